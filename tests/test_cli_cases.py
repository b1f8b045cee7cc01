"""Situations a user met through the command line, each with the one outcome it calls for.

Every test runs the real `vad` command in a subprocess (against a loopback server where
a model is needed) and checks the exit code and the first line said.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openai_server import FakeOpenAI

from vad.rundir import read_samples

VAD = [sys.executable, "-m", "vad.cli"]


def _vad(
    *args: str, timeout: float = 180, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VAD, *args], capture_output=True, text=True, timeout=timeout,
                          env=os.environ.copy(), cwd=cwd)  # fmt: skip


def _first_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    return lines[0] if lines else ""


def _samples(runs: Path) -> list[dict[str, Any]]:
    return [r for path in sorted(runs.glob("*/samples.jsonl")) for r in read_samples(path)]


# -- 7: a concept file edited in place is a new run ---------------------------------------


@pytest.mark.slow
def test_an_edited_caption_is_drawn_again(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    concepts = tmp_path / "mine.csv"
    concepts.write_text("id,level,caption\nmine-ball,mine,a red ball\n")
    args = ["draw", "--model", "openai/fake", "--api-base", fake_openai.api_base,
            "--concepts", str(concepts), "--level", "mine", "--no-progress"]  # fmt: skip
    first = _vad(*args)
    assert first.returncode == 0, first.stderr
    concepts.write_text("id,level,caption\nmine-ball,mine,a blue ball\n")
    again = _vad(*args)
    assert again.returncode == 0, again.stderr
    assert "already done: 1" not in again.stderr and "model calls: 1" in again.stderr
    captions = {r["caption"] for r in _samples(tmp_path / "runs")}
    assert captions == {"a red ball", "a blue ball"}
    # The same file again is the same run: nothing is asked twice.
    third = _vad(*args)
    assert "model calls: 0, cache hits: 0, already done: 1" in third.stderr


# -- 8: a letter counts only in answer position -------------------------------------------

ANSWERS = [  # (how the reply is made from the options shown, the option it must count as)
    ("{D}.", "D"),  # the caption of option D, capitalised: "A large blue circle."
    ("D", "D"),
    ("**D**", "D"),
    ("Answer: D", "D"),
    ("The answer is (D).", "D"),
    ("D) {d}", "D"),
    ("Option D is correct.", "D"),
    ("I think it is D.", "D"),
    ("#B03A2E", None),  # a colour, not the letter B
    ("The fill is #B03A2E.", None),
    ('```svg\n<svg viewBox="0 0 9 9"><circle r="4" fill="#B03A2E"/></svg>\n```', None),
    ('<svg viewBox="0 0 9 9"><rect width="4" height="4"/></svg>', None),
    ("no idea", None),
]


class _Replies(FakeOpenAI):
    """Answers multiple-choice prompts with the reply of ``ANSWERS`` its code names."""

    def _answer(self, path: str, body: dict[str, Any], batched: bool = False) -> Any:
        status, reply = super()._answer(path, body, batched)
        prompt = " ".join(m["content"] for m in body.get("messages", []))
        if "Answer with the letter only" in prompt:
            options = dict(re.findall(r"(?m)^([A-J])\. (.+)$", prompt))
            template = ANSWERS[len(self.requests) % len(ANSWERS)][0]
            text = template.format(D=options["D"][0].upper() + options["D"][1:], d=options["D"])
            reply["choices"][0]["message"]["content"] = text
            reply["template"] = template
        return status, reply


@pytest.mark.slow
def test_multiple_choice_answers_are_read_in_answer_position(tmp_path: Path) -> None:
    spec = tmp_path / "choice.yaml"
    with _Replies() as server:
        spec.write_text(json.dumps({
            "models": [{"name": "openai/fake", "api_base": server.api_base}],
            "tasks": ["recognize"], "levels": ["shapes"], "languages": ["svg"],
            "limit": 13, "max_connections": 1,
            "recognize": {"modes": ["choice"], "options": 5},
        }))  # fmt: skip
        done = _vad("run", str(spec), "--no-progress")
        asked = [" ".join(m["content"] for m in q["messages"]) for q in server.requests]
    assert done.returncode in (0, 3), done.stderr
    records = _samples(tmp_path / "runs")
    assert len(records) == len(asked) == 13
    by_options = {tuple(r["options"]): r for r in records}
    seen = set()
    for i, prompt in enumerate(asked, start=1):
        options = tuple(re.findall(r"(?m)^[A-J]\. (.+)$", prompt))
        template, want = ANSWERS[i % len(ANSWERS)]
        record = by_options[options]
        expected = None if want is None else "ABCDE".index(want)
        assert record["predicted"] == expected, (template, record["predicted"])
        assert record["status"] == ("ok" if want else "no_answer"), template
        seen.add(template)
    assert len(seen) == len(ANSWERS)


# -- 13, 14: spec files that are not what `vad run` reads -------------------------------


def test_a_spec_in_utf16_or_a_directory_is_named(tmp_path: Path) -> None:
    spec = tmp_path / "utf16.yaml"
    spec.write_bytes(b"\xff\xfe" + "models: [local/qwen2.5-coder-0.5b]\n".encode("utf-16-le"))
    done = _vad("run", str(spec))
    assert done.returncode == 2, done.stderr
    assert _first_error(done) == (f"error: run spec {spec} starts with a UTF-16 byte-order mark "
                                  "(bytes ff fe): save it as UTF-8")  # fmt: skip
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    done = _vad("run", str(latin))
    assert done.returncode == 2 and "is not UTF-8 text: byte 9 (line 1) is 0xe9" in done.stderr
    done = _vad("run", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert _first_error(done).startswith(f"error: run spec {tmp_path} is a directory: give")


@pytest.mark.slow
def test_a_spec_that_is_not_yaml_is_one_line_with_its_place(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("models: [a\n")
    for command in ("run", "generate"):
        done = _vad(command, str(spec))
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(f"error: {spec}, line 2, column 1: not valid YAML (")


# -- 15: the reader of the output went away ----------------------------------------------


def _closed_pipe() -> int:
    """The write end of a pipe whose reader is already gone (as after `| head -1`)."""
    read, write = os.pipe()
    os.close(read)
    return write


def test_a_closed_pipe_is_no_error(tmp_path: Path) -> None:
    for args, out in ((["runs"], "stdout"), (["run", str(tmp_path)], "stderr")):
        pipe = _closed_pipe()
        err = tmp_path / "stderr.txt"
        with err.open("w") as fh:
            streams = {"stdout": pipe, "stderr": fh} if out == "stdout" else {"stderr": pipe}
            proc = subprocess.Popen([*VAD, *args], **streams)  # type: ignore[call-overload]
            os.close(pipe)
            code = proc.wait(60)
        assert code == 141, (args, err.read_text())
        assert err.read_text() == ""


# -- 16, 17, 18: generation stopped at a limit, prices unknown, resumed with other settings


def _generate(server: FakeOpenAI, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _vad("generate", "--api-base", server.api_base, "--out", str(out), "--level",
                "shapes", "--no-progress", *extra)  # fmt: skip


@pytest.mark.slow
def test_a_generation_stopped_at_its_budget_says_so(tmp_path: Path) -> None:
    with FakeOpenAI() as server:  # a model litellm prices; the loopback server answers for it
        done = _generate(server, tmp_path / "set", "--model", "openai/gpt-4o-mini", "--n", "50",
                         "--max-tokens", "4096", "--max-cost", "0.003")  # fmt: skip
    assert done.returncode == 4, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("stopped"))
    assert line.startswith("stopped at the budget: $") and "of $0.003 spent" in line
    assert "error:" not in done.stderr
    assert "4 stopped at a limit you set" in " ".join(_vad("--help").stdout.split())


@pytest.mark.slow
def test_a_generation_stopped_at_its_request_limit_says_so(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        done = _generate(server, tmp_path / "set", "--model", "openai/fake", "--n", "20",
                         "--max-requests", "3")  # fmt: skip
    assert done.returncode == 4, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("stopped"))
    assert line == ("stopped at the request limit: 3 of 20 images kept after 3 requests "
                    "(--max-requests 3; not kept: none); run again with a larger "
                    "--max-requests to go on")  # fmt: skip
    status = json.loads((tmp_path / "set" / "manifest.json").read_text())["status"]
    assert status == "request_limit"


@pytest.mark.slow
def test_an_estimate_without_a_price_says_unknown(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        done = _generate(server, tmp_path / "set", "--model", "openai/no-such-model-anywhere",
                         "--n", "100", "--estimate")  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("estimate for --n 100"))
    assert line.endswith("cost unknown (no price for this model in litellm's price map)")
    assert "$0.00" not in done.stdout


@pytest.mark.slow
def test_resuming_with_another_language_names_it(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        first = _generate(server, tmp_path / "set", "--model", "openai/fake", "--n", "2")
        assert first.returncode == 0, first.stderr
        again = _generate(server, tmp_path / "set", "--model", "openai/fake", "--n", "2",
                          "--lang", "matplotlib", "--temperature", "0.5")  # fmt: skip
    assert again.returncode == 2, again.stderr
    line = _first_error(again)
    assert line == (f"error: {tmp_path / 'set'} holds a generation made with other settings: "
                    "--lang was svg, now matplotlib; --temperature was 1.0, now 0.5; give the "
                    "same settings to resume it, or choose another --out")  # fmt: skip


# -- 19: concept ids ---------------------------------------------------------------------


@pytest.mark.slow
def test_concept_ids_name_ascii_and_the_length_limit(tmp_path: Path) -> None:
    for cid, why in (("café-1", "has characters outside ASCII ('é')"),
                     ("x" * 300, "is 300 characters long, over the limit of 128")):  # fmt: skip
        concepts = tmp_path / "c.csv"
        concepts.write_text(f"id,level,caption\n{cid},shapes,a cup\n", encoding="utf-8")
        done = _vad("draw", "--concepts", str(concepts))
        assert done.returncode == 2, done.stderr
        line = _first_error(done)
        assert line.startswith(f"error: {concepts}, line 2, field 'id': ") and why in line
        assert "an id is ASCII letters, digits" in line and "at most 128 characters" in line


# -- 22: an SVG run has nothing to do with TeX -------------------------------------------


@pytest.mark.slow
def test_an_svg_run_does_not_touch_the_tex_format(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("VAD_TEX_FORMATS_DIR", str(blocked / "formats"))  # cannot be made
    done = _vad("draw", "--model", "openai/fake", "--api-base", fake_openai.api_base,
                "--limit", "2", "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "TikZ" not in done.stderr and not (blocked / "formats").exists()
    tikz = _vad("draw", "--model", "openai/fake", "--api-base", fake_openai.api_base,
                "--limit", "1", "--lang", "tikz", "--no-progress")  # fmt: skip
    assert "TikZ jobs compile the whole preamble" in tikz.stderr  # the check still runs


# -- 23: code of another language is one status, whichever way round -------------------


class _OtherLanguage(FakeOpenAI):
    """Answers a matplotlib prompt with SVG code and an SVG prompt with Python code."""

    def _answer(self, path: str, body: dict[str, Any], batched: bool = False) -> Any:
        status, reply = super()._answer(path, body, batched)
        prompt = " ".join(m["content"] for m in body.get("messages", []))
        if "using matplotlib" in prompt:
            text = '```svg\n<svg viewBox="0 0 9 9"><circle r="3" fill="red"/></svg>\n```'
        else:
            text = "```python\nimport matplotlib.pyplot as plt\nplt.plot([0, 1], [0, 1])\n```"
        reply["choices"][0]["message"]["content"] = text
        return status, reply


@pytest.mark.slow
def test_code_of_another_language_is_no_code(tmp_path: Path) -> None:
    with _OtherLanguage() as server:
        done = _vad("draw", "--model", "openai/fake", "--api-base", server.api_base,
                    "--lang", "svg,matplotlib", "--limit", "1", "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = {r["language"]: r for r in _samples(tmp_path / "runs")}
    statuses = {lang: r["status"] for lang, r in records.items()}
    assert statuses == {"svg": "no_code", "matplotlib": "no_code"}
    reasons = {lang: r["render"]["reason"] for lang, r in records.items()}
    assert reasons["matplotlib"] == "the reply's code is svg, not matplotlib"
    assert reasons["svg"] == "the reply's code is python (matplotlib or turtle), not svg"


@pytest.mark.slow
def test_an_estimate_when_every_request_fails_is_an_error(tmp_path: Path) -> None:
    with FakeOpenAI(fail_first=10**6, fail_status=400) as server:
        done = _generate(server, tmp_path / "set", "--model", "openai/fake", "--n", "30",
                         "--estimate")  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert _first_error(done).startswith("error: every one of the 8 requests failed")
    assert "estimate for" not in done.stdout
