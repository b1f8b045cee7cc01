from __future__ import annotations

import re
from pathlib import Path

import pytest

from vad.errors import SpecError
from vad.spec import ModelEntry, RunSpec, load_spec, spec_from_dict

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_specs_load() -> None:
    for path in (ROOT / "runs").glob("*.yaml"):
        spec = load_spec(path)
        assert spec.name == path.stem and spec.models


def test_hash_ignores_what_does_not_change_outputs() -> None:
    base = spec_from_dict({"models": ["openai/x"], "limit": 3})
    same = spec_from_dict(
        {
            "models": ["openai/x"],
            "limit": 3,
            "max_connections": 9,
            "retry": {"timeout": 5},
            "name": "other",
        }
    )
    assert base.spec_hash() == same.spec_hash()
    assert base.spec_hash() != spec_from_dict({"models": ["openai/x"], "limit": 4}).spec_hash()
    assert base.models == (ModelEntry(name="openai/x"),)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"modles": ["x"]}, "field 'modles' = ['x']: unknown field; valid: name, tasks"),
        ({"samples": 0}, "field 'samples' = 0: must be an integer between 1 and"),
        ({"samples": "3"}, "field 'samples' = '3': must be an integer"),
        ({"temperature": 3}, "field 'temperature' = 3: must be a number >= 0 and <= 2"),
        ({"models": []}, "field 'models' = []: needs at least one model"),
        ({"models": [{"name": "a/b", "style": "poem"}]}, "'models.style' = 'poem'"),
        ({"retry": {"forever": True}}, "'retry.forever' = True: unknown key; valid: max_retries"),
        ({"retry": {"timeout": "five"}}, "'retry.timeout' = 'five': must be a number > 0"),
        ({"retry": {"max_retries": -1}}, "'retry.max_retries' = -1"),
        ({"task": "paint"}, "field 'task' = 'paint': must be among draw, recognize, correct"),
        ({"levels": ["shapez"]}, "field 'levels' = 'shapez': unknown level; valid: shapes,"),
        # A typo in a level name of ``limit`` used to run no concepts of that level.
        ({"levels": ["shapes", "objects"], "limit": {"shapes": 2, "object": 3}},
         "field 'limit.object' = 3: unknown level; valid: shapes, objects"),
        ({"limit": True}, "field 'limit' = True: must be an integer >= 1 or a mapping"),
        ({"limit": 0}, "field 'limit' = 0: must be an integer >= 1"),
        ({"limit": {"shapes": 0}}, "field 'limit.shapes' = 0"),
        ({"recognize": {"options": "x"}}, "'recognize.options' = 'x': must be an integer"),
        ({"recognize": {"modes": ["guess"]}}, "'recognize.modes' = 'guess': must be among"),
        ({"recognize": {"sources": "x", "colour": 1}}, "'recognize.colour' = 1: unknown key"),
        ({"recognize": "x"}, "field 'recognize' = 'x': must be a mapping"),
        ({"correct": {"rounds": -1}}, "'correct.rounds' = -1: must be an integer between 1"),
        ({"rate_limits": {"openai": {"rpm": 0}}}, "'rate_limits.openai.rpm' = 0: must be"),
        ({"rate_limits": {"openai": {"connections": 2}}},
         "'rate_limits.openai.connections' = 2: unknown key; valid: max_connections, rpm"),
        ({"max_connections": 0}, "'max_connections' = 0"),
        ({"sandbox": "no"}, "'sandbox' = 'no': must be true or false"),
        ({"name": "a b"}, "'name' = 'a b'"),
        ({"task": "draw", "tasks": ["draw"]}, "give 'task' or 'tasks', not both"),
    ],
)  # fmt: skip
def test_invalid_specs_name_the_field(data: dict, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)) as info:
        spec_from_dict(data, "t.yaml")
    assert str(info.value).startswith("t.yaml: field '")


def test_flags_are_named_as_flags() -> None:
    with pytest.raises(SpecError, match=r"^command line: --samples = 0: must be an integer"):
        spec_from_dict({"samples": 0}, "command line")
    with pytest.raises(SpecError, match=r"^command line: --slots = 0"):
        spec_from_dict({"rate_limits": {"local": {"max_connections": 0}}}, "command line")


def test_valid_nested_values_are_kept() -> None:
    spec = spec_from_dict({
        "levels": ["shapes", "objects"], "limit": {"shapes": 2, "objects": 3},
        "retry": {"timeout": 5, "max_retries": 0},
        "rate_limits": {"openai": {"rpm": 60, "max_connections": 2}},
        "recognize": {"modes": "choice", "options": 4}, "correct": {"rounds": 2},
    })  # fmt: skip
    assert spec.limit == {"shapes": 2, "objects": 3}
    assert spec.retry == {"timeout": 5.0, "max_retries": 0}
    assert spec.task_options("recognize") == {"modes": ["choice"], "options": 4}
    assert spec.task_options("correct") == {"rounds": 2}
    assert spec.rate_limits == {"openai": {"rpm": 60.0, "max_connections": 2}}


def test_yaml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)


def test_numbers_keep_their_type_so_hashes_do_not_move() -> None:
    # YAML "temperature: 0" is an int: made a float, it would change every cache key.
    assert spec_from_dict({"temperature": 0}).temperature == 0
    assert type(spec_from_dict({"temperature": 0}).temperature) is int
    assert spec_from_dict({"temperature": 1}).spec_hash() == RunSpec(temperature=1).spec_hash()
