"""Code extraction on replies recorded from the embedded models (tests/data/replies.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vad.extract import extract_chat, extract_completion
from vad.prompts import load_prompts

REPLIES = [json.loads(line) for line in (Path(__file__).parent / "data" / "replies.jsonl").open()]


def _reply(model: str, language: str, caption: str) -> dict:
    return next(
        r
        for r in REPLIES
        if (r["model"], r["language"], r["caption"]) == (model, language, caption)
    )


def _valid_xml(code: str) -> bool:
    import xml.etree.ElementTree as ET

    try:
        ET.fromstring(code)
    except ET.ParseError:
        return False
    return True


QWEN, GEMMA = "local/qwen2.5-coder-0.5b", "local/gemma-3-270m"


def test_fenced_svg_with_chatter_before_and_after() -> None:
    got = extract_chat(_reply(QWEN, "svg", "a cat")["reply"], "svg")
    assert got.method == "fenced" and got.notes == ["info string 'svg'"]
    assert got.code.startswith("<svg") and got.code.endswith("</svg>")
    assert "Certainly" not in got.code and "This SVG" not in got.code
    assert _valid_xml(got.code)


def test_bare_fence_without_info_string() -> None:
    got = extract_chat(_reply(QWEN, "svg", "a bicycle")["reply"], "svg")
    assert (got.method, got.notes) == ("fenced", [])
    assert _valid_xml(got.code)


@pytest.mark.parametrize(
    "caption",
    [
        "a chef standing next to a counter with jars",
        "a lighthouse on a rocky shore with waves below it",
    ],
)
def test_fence_left_open_at_the_token_limit_is_closed(caption: str) -> None:
    reply = _reply(QWEN, "svg", caption)
    assert reply["finish_reason"] == "length"
    got = extract_chat(reply["reply"], "svg")
    assert got.method == "fenced-unclosed"
    assert any(n.startswith("closed a truncated svg") for n in got.notes)
    assert _valid_xml(got.code)


def test_truncated_python_keeps_the_part_that_parses() -> None:
    got = extract_chat(
        _reply(QWEN, "matplotlib", "a red triangle in the top left")["reply"], "matplotlib"
    )
    assert got.method == "fenced-unclosed"
    assert got.code.startswith("import matplotlib.pyplot as plt")
    assert "plt.figure(figsize=(224," not in got.code
    compile(got.code, "<test>", "exec")
    assert any("trailing lines" in n for n in got.notes)


def test_tikz_from_a_full_document_in_plain_form() -> None:
    got = extract_chat(_reply(QWEN, "tikz", "a blue square")["reply"], "tikz")
    assert got.method == "bare"
    # a whole document is kept as written (renderers/tikz.py compiles it with its class)
    assert got.code.startswith("\\documentclass[]{article}")
    assert got.code.endswith("\\end{document}")
    assert "\\begin{tikzpicture}" in got.code and got.code.count("\\draw") == 2
    assert "read plain \\tikzpicture as \\begin{tikzpicture}" in got.notes


def test_truncated_tikz_is_cut_at_the_last_statement() -> None:
    got = extract_chat(_reply(QWEN, "tikz", "a row of bicycles")["reply"], "tikz")
    assert got.code.endswith("{Bicycle};\n\\end{tikzpicture}\n\\end{document}")
    assert "\\foreach" not in got.code


def test_completion_of_a_base_model_stops_at_the_next_example() -> None:
    reply = _reply(GEMMA, "tikz", "a tree")
    prompt = load_prompts("draw").render(
        "tikz", "completion", {"caption": "a tree", "width": 224, "height": 224}
    )
    got = extract_completion(
        reply["reply"],
        "tikz",
        prompt.code_start,
        prompt.code_end,
        prompt.stop,
        truncated=reply["finish_reason"] == "length",
    )
    assert got.method == "completion" and "% Draw" not in got.code
    assert got.code.startswith("\\begin{tikzpicture}") and got.code.endswith("\\end{tikzpicture}")


def test_truncated_svg_completion_is_valid_xml() -> None:
    reply = _reply(GEMMA, "svg", "a cat")
    prompt = load_prompts("draw").render(
        "svg", "completion", {"caption": "a cat", "width": 224, "height": 224}
    )
    got = extract_completion(
        reply["reply"], "svg", prompt.code_start, prompt.code_end, prompt.stop, truncated=True
    )
    assert "reply hit the token limit" in got.notes and _valid_xml(got.code)


def test_finished_completion_gets_its_closing_tag() -> None:
    got = extract_completion('\n  <circle r="3"/>\n', "svg", "<svg>", "</svg>", ["</svg>"], False)
    assert (got.code, got.method, got.notes) == (
        '<svg>\n  <circle r="3"/>\n</svg>',
        "completion",
        [],
    )


def test_several_blocks_pick_the_one_in_the_language() -> None:
    reply = "Install:\n```bash\npip install x\n```\nCode:\n```\n<svg><rect/></svg>\n```\n"
    got = extract_chat(reply, "svg")
    assert got.code == "<svg><rect/></svg>" and "picked 1 of 2 fenced blocks" in got.notes


def test_nothing_to_extract() -> None:
    got = extract_chat("I cannot draw, sorry.", "svg")
    assert got.code is None and got.method == "none"
    assert extract_chat("", "matplotlib").code is None


@pytest.mark.parametrize(
    "first",
    ["ArrayList<Ball> balls = new ArrayList<Ball>();", "Drop[] drops = new Drop[250];",
     "int[] values = {3, 1, 4};", "float x, y;", "PVector pos;",
     "HashMap<String, Integer> counts = new HashMap<String, Integer>();"],
)  # fmt: skip
def test_a_processing_sketch_may_start_with_any_declaration(first: str) -> None:
    reply = f"Here is the sketch.\n\n{first}\n\nvoid setup() {{\n  size(100, 100);\n}}\n"
    got = extract_chat(reply, "processing")
    assert got.code is not None and got.code.startswith(first), got
    assert "dropped text before the sketch" in got.notes  # the prose, not the declaration


def test_prose_before_a_processing_sketch_is_not_code() -> None:
    reply = "In short, this draws a ball.\nSo far, so good.\nvoid setup() {\n  size(9, 9);\n}\n"
    got = extract_chat(reply, "processing")
    assert got.code is not None and got.code.startswith("void setup()")


@pytest.mark.parametrize(
    ("reply", "lang", "note"),
    [
        ("```svg\n<svg><circle r='3'/></svg>\n```", "matplotlib", "svg, not matplotlib"),
        ("```python\nimport matplotlib.pyplot as plt\nplt.plot([1], [2])\n```", "svg",
         "python (matplotlib or turtle), not svg"),
        ("```python\nimport turtle\nturtle.forward(50)\n```", "matplotlib",
         "python (turtle), not matplotlib"),
        ("```python\nimport matplotlib.pyplot as plt\nplt.plot([1], [2])\n```", "turtle",
         "python (matplotlib), not turtle"),
    ],
)  # fmt: skip
def test_code_of_another_language_is_no_code(reply: str, lang: str, note: str) -> None:
    found = extract_chat(reply, lang)
    assert found.code is None and found.notes == [f"the reply's code is {note}"]
