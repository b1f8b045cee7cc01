from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from openai_server import FakeOpenAI

from vad.rundir import read_samples
from vad.runner import Runner
from vad.spec import spec_from_dict
from vad.tasks.recognize import normalise, parse_choice, strip_hints


def test_hints_are_stripped_per_language() -> None:
    svg = '<svg><!-- a cat --><title>Cat</title><circle r="1"/></svg>'
    assert strip_hints(svg, "svg") == '<svg><circle r="1"/></svg>'
    py = "import x  # draw a cat\n# the cat's tail\ny = '#not a comment'\n"
    stripped = strip_hints(py, "matplotlib")
    assert "cat" not in stripped and "'#not a comment'" in stripped
    assert strip_hints("\\draw (0,0); % a cat\n50\\% grey", "tikz") == "\\draw (0,0); \n50\\% grey"


def test_answers_are_parsed() -> None:
    options = ["a red circle", "a blue square", "a cat"]
    assert parse_choice("B", options) == 1
    assert parse_choice("The answer is (C).", options) == 2
    assert parse_choice("I think it is a blue square", options) == 1
    assert parse_choice("no idea", options) is None
    assert normalise("A Red, circle!") == "red circle"


OPTIONS = ["a red circle", "a blue square", "two yellow squares", "a large blue circle",
           "a small blue circle"]  # fmt: skip
REPLIES = [  # real replies' forms, and the option each names (None: no answer)
    ("D", 3), ("D.", 3), ("(D)", 3), ("**D**", 3), ("D)", 3), ("`D`", 3), ("Answer: D", 3),
    ("The answer is (D).", 3), ("Answer: (D) a large blue circle", 3), ("Option B is correct.", 1),
    ("I think it is B.", 1), ("It's C", 2), ("I choose B", 1), ("C: two yellow squares", 2),
    ("D) a large blue circle", 3), ("E. a small blue circle", 4), ("A", 0), ("A.", 0),
    ("A large blue circle.", 3), ("A red circle", 0), ("Answer: A large blue circle", 3),
    ("It is A red circle", 0), ("two yellow squares", 2), ("It's a small blue circle.", 4),
    ("a blue circle", None), ("#B03A2E", None), ("The fill is #B03A2E, a red circle", 0),
    ("answer: c", None), ("I", None), ("no idea", None), ("", None),
    ('```svg\n<svg><circle fill="#B03A2E"/></svg>\n```', None),
    ('<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', None),
    ("import matplotlib.pyplot as plt\nplt.plot([1], [2])", None),
    ("\\begin{tikzpicture}\\draw (0,0) circle (1);\\end{tikzpicture}", None),
    ("This matplotlib code draws a blue square, so the answer is B.", 1),
    ("The SVG has a <rect> element filled blue. Answer: B", 1),
    ("The code uses plt.Rectangle with a blue fill. Answer: B", 1),
    ("B is the correct answer.", 1), ("The drawing matches B.", 1),
    ("A. a red circle - no\nB. a blue square - yes.\nAnswer: B", 1),
    ("from the shapes drawn, the answer is B", 1), ("fig tree", None),
]  # fmt: skip


@pytest.mark.parametrize(("reply", "option"), REPLIES)
def test_a_letter_counts_only_in_answer_position(reply: str, option: int | None) -> None:
    assert parse_choice(reply, OPTIONS) == option


@pytest.mark.slow
def test_recognize_run_on_reference_code(fake_openai: FakeOpenAI) -> None:
    spec = spec_from_dict({
        "models": [{"name": "openai/fake", "api_base": fake_openai.api_base}],
        "tasks": ["recognize"], "levels": ["shapes"], "limit": 4,
        "languages": ["svg", "tikz"], "recognize": {"options": 4},
    })  # fmt: skip
    runner = Runner(spec, progress=False)
    runner.run()
    records = read_samples(runner.folder.samples_path)
    assert Counter(r["mode"] for r in records) == {"choice": 8, "free": 8}
    for r in records:
        assert r["task"] == "recognize" and r["status"] == "ok" and r["source"] == "reference"
        assert "<!--" not in r["code"]
        if r["mode"] == "choice":
            assert len(r["options"]) == 4 and r["caption"] == r["options"][r["answer"]]
            assert r["predicted"] == 1 and r["correct"] == (r["answer"] == 1)
        else:
            assert r["predicted"] == "A cat." and r["correct"] is False
    free = [q["messages"][1]["content"] for q in fake_openai.requests
            if "short noun phrase" in str(q)]  # fmt: skip
    assert len(free) == 8
    assert not any(r["caption"] in r["code"] for r in records)
    # The same sample always gets the same options (seeded by its id).
    again = Runner(spec, run_name="again", progress=False)
    again.run()
    first = {r["sample_id"]: r.get("options") for r in records}
    assert {r["sample_id"]: r.get("options") for r in read_samples(again.folder.samples_path)} == (
        first
    )


@pytest.mark.slow
def test_cross_model_recognition_reads_an_earlier_run(fake_openai: FakeOpenAI) -> None:
    base = {
        "models": [{"name": "openai/fake", "api_base": fake_openai.api_base}],
        "levels": ["objects"],
        "limit": 3,
    }
    drawn = Runner(spec_from_dict({**base, "tasks": ["draw"]}), progress=False)
    drawn.run()
    spec = spec_from_dict(
        {
            **base,
            "tasks": ["recognize"],
            "recognize": {"sources": [str(drawn.folder.path)], "modes": ["free"]},
        }
    )
    runner = Runner(spec, progress=False)
    runner.run()
    records = read_samples(runner.folder.samples_path)
    assert len(records) == 3
    assert {r["source_model"] for r in records} == {"openai/fake"}
    assert all(r["source"] == drawn.folder.path.name and r["source_sample"] for r in records)
    assert [r["correct"] for r in records] == [r["caption"] == "a cat" for r in records]


def test_bad_recognize_options() -> None:
    from vad.errors import SpecError

    with pytest.raises(SpecError, match="recognize"):
        spec_from_dict({"recognize": {"colour": 1}})


@pytest.mark.slow
def test_recognize_through_the_cli_with_runs_dir_and_a_concept_file(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sources are looked up in --runs-dir (not the default runs folder), and a custom
    level from the spec's concept files feeds both the sources and the distractors."""
    monkeypatch.setenv("VAD_RUNS_DIR", str(tmp_path / "not-here"))
    concepts = tmp_path / "fruit.csv"
    concepts.write_text(
        "id,level,caption\napple,fruit,an apple\npear,fruit,a pear\nplum,fruit,a plum\n"
        "fig,fruit,a fig\n",
        encoding="utf-8",
    )
    runs = tmp_path / "my-runs"
    model = ["--model", "openai/fake", "--api-base", fake_openai.api_base]
    drawn = _cli("draw", *model, "--level", "fruit", "--concepts", str(concepts),
                 "--runs-dir", str(runs), "--run-name", "fruit-drawn", "--no-progress")  # fmt: skip
    assert drawn.returncode == 0, drawn.stderr
    spec = tmp_path / "recognize.yaml"
    spec.write_text(
        "tasks: [recognize]\nlevels: [fruit]\n"
        f"concept_files: ['{concepts}']\n"
        f"models: [{{name: openai/fake, api_base: '{fake_openai.api_base}'}}]\n"
        "recognize: {sources: [fruit-drawn], modes: [choice, free], options: 3}\n",
        encoding="utf-8",
    )
    done = _cli("run", str(spec), "--runs-dir", str(runs), "--run-name", "seen", "--no-progress")
    assert done.returncode == 0, done.stderr
    records = read_samples(runs / "seen" / "samples.jsonl")
    assert Counter(r["mode"] for r in records) == {"choice": 4, "free": 4}
    assert {r["source"] for r in records} == {"fruit-drawn"}
    assert {r["concept_id"] for r in records} == {"apple", "pear", "plum", "fig"}
    fruit = {"an apple", "a pear", "a plum", "a fig"}
    for r in records:
        if r["mode"] == "choice":  # distractors come from the custom level
            assert set(r["options"]) <= fruit and r["caption"] in r["options"]
    assert not (tmp_path / "not-here").exists()
    elsewhere = _cli("run", str(spec), "--no-progress")  # the default runs folder lacks it
    assert elsewhere.returncode == 2 and "fruit-drawn" in elsewhere.stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vad.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
