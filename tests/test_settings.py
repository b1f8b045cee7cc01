"""Settings declared once: the generation's flags, spec fields, defaults, help, JSON
Schema and hash all come from one declaration (vad/settings.py, GenerateSpec)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from vad.errors import SpecError
from vad.generate.spec import GenerateSpec, load_settings

ROOT = Path(__file__).resolve().parents[1]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    GenerateSpec.add_flags(p)
    return p


def test_every_flag_maps_to_its_field_and_nothing_is_given_by_default() -> None:
    args = _parser().parse_args([])
    for name in GenerateSpec.model_fields:
        assert getattr(args, name, None) is None or name not in vars(args)
    assert GenerateSpec.from_flags(args) == {}
    given = _parser().parse_args(["--n", "5", "--lang", "svg,matplotlib", "--lang", "tikz",
                                  "--shard", "1/4", "--max-cost", "0.5", "--batch"])  # fmt: skip
    assert GenerateSpec.from_flags(given) == {
        "n": 5, "languages": ("svg", "matplotlib", "tikz"), "shard": (1, 4), "max_cost": 0.5,
        "batch": True,
    }  # fmt: skip


def test_the_help_shows_each_default_from_the_declaration() -> None:
    text = _parser().format_help()
    assert "(default 64)" in text  # --size
    assert "--dedupe-distance BITS" in text and "(default 4)" in text
    assert "--grace S" in text
    for name, info in GenerateSpec.model_fields.items():
        flag = GenerateSpec.flag_of(name)
        if flag is not None:
            assert flag in text, name
            assert info.description, f"{name} has no help"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("size", 4, "gen.yaml: field 'size' = 4: must be an integer between 8 and 4096"),
        ("temperature", 3, "gen.yaml: field 'temperature' = 3: must be a number >= 0 and <= 2"),
        ("languages", ["svg", "cobol"], "gen.yaml: field 'languages' = 'cobol': must be among"),
        ("shard", "4/4", "gen.yaml: field 'shard' = '4/4': must be I/N with 0 <= I < N"),
        ("max_cost", 0, "gen.yaml: field 'max_cost' = 0: must be a number > 0"),
        ("retry", {"tries": 3}, "gen.yaml: field 'retry.tries' = 3: unknown key; valid:"),
        ("colour", "red", "gen.yaml: field 'colour' = 'red': unknown field; valid: out, n,"),
        ("out", None, "gen.yaml: field 'out' = None: must be a non-empty string"),
        ("max_dominant", 2, "gen.yaml: field 'max_dominant' = 2: must be a number >= 0"),
    ],
)
def test_a_spec_file_error_names_its_field(field: str, value: object, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        GenerateSpec.checked({field: value}, "gen.yaml")
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_flag_error_names_the_flag() -> None:
    args = _parser().parse_args(["--size", "4"])
    with pytest.raises(SpecError, match=r"^command line: --size = 4: must be an integer between"):
        GenerateSpec.from_flags(args)


def test_the_settings_hash_takes_only_what_changes_the_set(tmp_path: Path) -> None:
    base = GenerateSpec()
    assert base.settings_hash() == "244e0c3ca6"  # the hash sets made before carry
    for unhashed in ({"n": 7}, {"max_connections": 2}, {"grace": 1.0}, {"max_cost": 3.0},
                     {"batch": True}, {"retry": {"timeout": 9}}, {"out": "x"}):  # fmt: skip
        assert GenerateSpec(**unhashed).settings_hash() == base.settings_hash(), unhashed
    for hashed in ({"size": 32}, {"seed": 1}, {"temperature": 0.5}, {"shard": (1, 2)}):
        assert GenerateSpec(**hashed).settings_hash() != base.settings_hash(), hashed
    # a temperature written 1 is not 1.0: the value is kept as given (as before); a
    # threshold is one number however it is written
    assert GenerateSpec(temperature=1).settings()["temperature"] == 1
    four = GenerateSpec(**GenerateSpec.checked({"min_std": 4}, "gen.yaml"))
    assert four.settings_hash() == base.settings_hash()


def test_only_lists_of_names_are_split_at_commas() -> None:
    args = _parser().parse_args(["--lang", "svg,tikz", "--concepts", "a,b.csv"])
    got = GenerateSpec.from_flags(args)
    assert got["languages"] == ("svg", "tikz") and got["concept_files"] == ("a,b.csv",)


def test_the_schema_checks_spec_files_as_the_loader_does(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "vad", "schema", "generate"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema["properties"]["n"]["flag"] == "--n"
    assert schema["properties"]["n"]["hashed"] is False
    good = {"out": "gen", "n": 10, "languages": ["svg"], "shard": "0/4", "temperature": 1}
    jsonschema.validate(good, schema)
    spec = tmp_path / "gen.yaml"
    spec.write_text(json.dumps(good))
    assert load_settings(spec)["shard"] == (0, 4)
    jsonschema.validate({**good, "languages": "svg,tikz", "shard": [1, 4]}, schema)
    for bad in ({"n": 0}, {"colour": "red"}, {"shard": "a/b"}, {"size": "big"},
                {"temperature": 5}, {"max_cost": -1}, {"out": None},
                {"retry": {"timout": 3}}, {"strategy": "compse"}, {"models": []},
                {"api_base": "ftp://x"}):  # fmt: skip
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, **bad}, schema)
        spec.write_text(json.dumps({**good, **bad}))
        with pytest.raises(SpecError):
            load_settings(spec)


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["dataset", "export", "x", "--out", "e", "--size", "0"],
         "error: command line: --size = 0: must be an integer between 8 and 4096"),
        (["dataset", "export", "x", "--out", "e", "--shard-size", "0"],
         "error: command line: --shard-size = 0: must be an integer between 1 and"),
        (["draw", "--size", "64", "--render-size", "128"],
         "error: command line: --size 64 and --render-size 128: give --render-size only"),
        (["bench", "generate", "--slots", "two"],
         "error: command line: --slots = 'two': give slot counts from 1 to 256"),
        (["pretrain-report", "--out", "r", "--method", "foo"],
         "error: unknown method 'foo': choose simclr or moco"),
        (["pretrain-report", "--out", "r", "--device", "tpu"],
         "error: --device 'tpu': choose auto, cpu or cuda"),
        (["draw", "--engine-threads", "0"],
         "error: command line: --engine-threads = 0: must be an integer between 1 and 1024"),
        (["draw", "--samples", "0"],
         "error: command line: --samples = 0: must be an integer between 1 and 100000"),
        (["draw", "--limit", "x"],
         "error: command line: argument --limit: invalid int value: 'x' (see `vad draw --help`)"),
        (["draw", "--bogus"],
         "error: command line: unrecognized arguments: --bogus (see `vad draw --help`)"),
        (["dataset", "export", "x", "--out", "e", "--bogus"],
         "error: command line: unrecognized arguments: --bogus (see `vad dataset export --help`)"),
    ],
)  # fmt: skip
def test_bad_flags_are_one_line_before_any_work(tmp_path: Path, argv: list[str], line: str) -> None:
    done = subprocess.run([sys.executable, "-m", "vad", *argv], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith(line), done.stderr
    assert all(x.startswith("note:") for x in lines[:-1]), done.stderr  # no usage dump
    assert not (tmp_path / "r").exists() and not (tmp_path / "e").exists()


def test_a_flag_name_in_a_spec_file_points_at_its_field(tmp_path: Path) -> None:
    spec = tmp_path / "gen.yaml"
    spec.write_text("model: [x]\nout: g\nn: 2\n")
    with pytest.raises(SpecError, match="the field of --model is 'models'"):
        load_settings(spec)


def test_the_run_schema_checks_run_specs_as_the_loader_does(tmp_path: Path) -> None:
    from vad.spec import RunSpec, load_spec

    done = subprocess.run([sys.executable, "-m", "vad", "schema", "run"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema == json.loads(json.dumps(RunSpec.schema()))
    assert schema["properties"]["samples"]["flag"] == "--samples"
    assert schema["properties"]["retry"]["hashed"] is False
    assert "options" not in schema["properties"] and "recognize" in schema["properties"]
    for path in sorted((ROOT / "runs").glob("*.yaml")):  # every example the project ships
        data = yaml.safe_load(path.read_text())
        jsonschema.validate(data, schema)
        load_spec(path)
    good = {"models": ["openai/gpt-4o-mini", {"name": "local/qwen2.5-coder-0.5b",
                                             "style": "chat"}],
            "levels": "shapes,objects", "limit": {"shapes": 2}, "task": "recognize",
            "recognize": {"options": 4}, "retry": {"timeout": 30}}  # fmt: skip
    jsonschema.validate(good, schema)
    spec = tmp_path / "good.yaml"
    spec.write_text(json.dumps(good))
    assert load_spec(spec).limit == {"shapes": 2}
    nulls = {**good, "levels": None, "retry": None, "recognize": None, "ids": None,
             "languages": None, "samples": None}  # fmt: skip
    jsonschema.validate(nulls, schema)  # null: the field's default, as the loader takes it
    spec.write_text(json.dumps(nulls))
    assert load_spec(spec).retry == {}
    for bad in ({"samples": 0}, {"colour": "red"}, {"limit": 0}, {"limit": {"shapes": 0}},
                {"models": []}, {"models": [{"name": "x", "stile": "chat"}]},
                {"models": [{"name": "x", "style": "poem"}]}, {"temperature": 3},
                {"retry": {"timout": 3}}, {"rate_limits": {"openai": {"rpm": 0}}},
                {"sandbox": "no"}, {"name": "a b"}, {"recognize": {"colour": 1}},
                {"max_connections": 0}, {"models": [{"name": ""}]}, {"models": [" "]},
                {"task": "bogus"}, {"tasks": ["draw"]}, {"levels": ["shapes", "shapes"]},
                {"levels": ","}, {"languages": ["nope"]}, {"name": "abc\n"},
                {"limit": {"1": "x"}}):  # fmt: skip
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, **bad}, schema)
        spec.write_text(json.dumps({**good, **bad}))
        with pytest.raises(SpecError):
            load_spec(spec)
