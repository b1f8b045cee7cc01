from __future__ import annotations

from pathlib import Path

import pytest

from vad.errors import SpecError
from vad.prompts import fill, load_prompts

VALUES = {"caption": "a blue square", "width": 224, "height": 224}


@pytest.mark.parametrize("language", ["svg", "matplotlib", "tikz"])
def test_every_language_has_chat_and_completion_templates(language: str) -> None:
    prompts = load_prompts("draw")
    assert prompts.styles(language) == ["chat", "completion"]
    chat = prompts.render(language, "chat", VALUES)
    assert [m["role"] for m in chat.messages] == ["system", "user"]
    assert "a blue square" in chat.messages[1]["content"]
    assert "{{" not in chat.messages[1]["content"]
    completion = prompts.render(language, "completion", VALUES)
    assert completion.prompt.endswith(completion.code_start)
    assert "a blue square" in completion.prompt and completion.stop
    assert (chat.version, chat.template_id) == ("1", f"draw/{language}/chat")


def test_payload_is_what_the_cache_key_sees() -> None:
    prompts = load_prompts("draw")
    a = prompts.render("svg", "chat", VALUES).payload()
    b = prompts.render("svg", "chat", {**VALUES, "caption": "a red square"}).payload()
    assert a != b and set(a) == {"messages", "stop"}


def test_fill_refuses_unknown_placeholders() -> None:
    assert fill("{{ caption }} at {{width}}", VALUES) == "a blue square at 224"
    with pytest.raises(SpecError, match="placeholder"):
        fill("{{colour}}", VALUES)


def test_bad_prompt_files(tmp_path: Path) -> None:
    (tmp_path / "draw.yaml").write_text("task: draw\nlanguages: {}\n")
    with pytest.raises(SpecError, match="needs 'task', 'version'"):
        load_prompts("draw", str(tmp_path))
    with pytest.raises(SpecError, match="no prompt file"):
        load_prompts("paint", str(tmp_path))
    with pytest.raises(SpecError, match="no draw prompt for language 'postscript'"):
        load_prompts("draw").render("postscript", "chat", VALUES)


def test_recognize_templates_vary_by_mode_not_language() -> None:
    prompts = load_prompts("recognize")
    assert set(prompts.variants) == {"choice", "free"} and prompts.variant_kind == "variant"
    assert {"svg", "matplotlib", "tikz"} <= set(load_prompts("draw").variants)
    with pytest.raises(SpecError, match="no recognize prompt for variant 'svg'"):
        prompts.render("svg", "chat", VALUES)
