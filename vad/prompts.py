"""Prompt templates as data: ``prompts/<task>.yaml``, versioned, filled per concept."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from vad._paths import project_dir
from vad.errors import SpecError
from vad.languages import all_languages

STYLES = ("chat", "completion")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Prompt:
    """A filled prompt: chat messages or a completion prefix, plus how to read the reply.

    ``images`` (PNG bytes, chat only) go with the last user message, after its text, in
    the order given: what a vision judge looks at.
    """

    template_id: str
    version: str
    style: str
    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    stop: list[str] = field(default_factory=list)
    code_start: str = ""
    code_end: str = ""
    images: tuple[bytes, ...] = field(default=(), repr=False)

    def payload(self) -> dict[str, Any]:
        """The output-affecting content of the request (goes into the cache key).

        An image enters as the sha256 of its bytes: the key follows the image, and the
        response store (which keeps the payload beside each reply) never holds images.
        A prompt without images has the payload it always had (keys stay as they were).
        """
        if self.style == "chat":
            out: dict[str, Any] = {"messages": self.messages, "stop": self.stop or None}
        else:
            out = {"prompt": self.prompt, "stop": self.stop or None}
        if self.images:
            out["images"] = [hashlib.sha256(image).hexdigest() for image in self.images]
        return out

    def with_images(self, *images: bytes) -> Prompt:
        """This prompt with ``images`` attached to its last user message."""
        if self.style != "chat":
            raise SpecError(f"{self.template_id}: images go only with chat prompts")
        return replace(self, images=tuple(bytes(image) for image in images))

    def chat_messages(self) -> list[dict[str, Any]]:
        """The messages as sent, in the OpenAI (and litellm) form: with images, the last
        user message's content is a list of its text then each image as a data URL."""
        messages = list(self.messages or [])
        if not self.images:
            return messages
        last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
        if last is None:
            raise SpecError(f"{self.template_id}: images need a user message to go with")
        parts: list[dict[str, Any]] = [{"type": "text", "text": messages[last]["content"]}]
        for image in self.images:
            url = "data:image/png;base64," + base64.b64encode(image).decode("ascii")
            parts.append({"type": "image_url", "image_url": {"url": url}})
        messages[last] = {**messages[last], "content": parts}
        return messages


def fill(text: str, values: dict[str, Any]) -> str:
    """Replace ``{{name}}`` placeholders; an unknown name is an error, not a blank."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise SpecError(f"prompt placeholder {{{{{name}}}}} has no value")
        return str(values[name])

    return _PLACEHOLDER.sub(sub, text)


@dataclass(frozen=True)
class PromptSet:
    """All templates of one task, as loaded from its YAML file: style -> template for each
    variant, where a variant is a drawing language (a file with ``languages:``, as for
    draw and correct) or a mode (a file with ``variants:``, as recognize's choice and
    free); ``variant_kind`` is ``language`` or ``variant``, for messages."""

    task: str
    version: str
    path: Path
    variants: dict[str, dict[str, dict[str, Any]]]
    variant_kind: str = "language"

    def styles(self, variant: str) -> list[str]:
        return list(self._templates(variant))

    def _templates(self, variant: str) -> dict[str, dict[str, Any]]:
        if variant not in self.variants:
            raise SpecError(
                f"{self.path} has no {self.task} prompt for {self.variant_kind} {variant!r}: "
                f"choose from {', '.join(self.variants)}"
            )
        return self.variants[variant]

    def render(self, variant: str, style: str, values: dict[str, Any]) -> Prompt:
        styles = self._templates(variant)
        if style not in styles:
            raise SpecError(f"{self.path}: no {style!r} template for {variant}")
        tpl = styles[style]
        template_id = f"{self.task}/{variant}/{style}"
        if style == "chat":
            messages = []
            if tpl.get("system"):
                messages.append({"role": "system", "content": fill(tpl["system"], values)})
            messages.append({"role": "user", "content": fill(tpl["user"], values)})
            return Prompt(
                template_id,
                self.version,
                style,
                messages=messages,
                stop=list(tpl.get("stop") or []),
            )
        code_start = fill(tpl.get("code_start", ""), values)
        prefix = fill(tpl["prompt"], values)
        sep = "\n" if prefix and not prefix.endswith("\n") else ""
        return Prompt(
            template_id,
            self.version,
            style,
            prompt=prefix + sep + code_start,
            stop=list(tpl.get("stop") or []),
            code_start=code_start,
            code_end=fill(tpl.get("code_end", ""), values),
        )


def _validate(data: Any, path: Path) -> str:
    """Check a prompt file's data; returns its variants' key (``languages`` or
    ``variants``)."""
    key = "variants" if isinstance(data, dict) and "languages" not in data else "languages"
    if not isinstance(data, dict) or not {"task", "version", key} <= set(data):
        raise SpecError(f"{path}: a prompt file needs 'task', 'version' and 'languages'")
    for variant, styles in data[key].items():
        for style, tpl in (styles or {}).items():
            if style not in STYLES:
                raise SpecError(f"{path}: {variant}.{style}: style must be one of {STYLES}")
            need = ("user",) if style == "chat" else ("prompt",)
            missing = [k for k in need if k not in tpl]
            if missing:
                raise SpecError(f"{path}: {variant}.{style} lacks '{missing[0]}'")
    return key


@cache
def load_prompts(task: str, directory: str | None = None) -> PromptSet:
    """Load ``prompts/<task>.yaml`` (or from ``directory``)."""
    base = Path(directory) if directory else project_dir("prompts")
    path = base / f"{task}.yaml"
    if not path.is_file():
        raise SpecError(f"no prompt file for task {task!r} at {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    key = _validate(data, path)
    if key == "languages":
        data[key] = {**data[key], **_plugin_templates(task, data[key], path)}
    kind = key.removesuffix("s")  # language or variant
    return PromptSet(data["task"], str(data["version"]), path, data[key], kind)


def _plugin_templates(task: str, found: dict[str, Any], path: Path) -> dict[str, Any]:
    """The ``task`` templates that plugin languages bring (``Language.prompts``): a
    language's templates are in one place, its plugin or this file, never both."""
    out: dict[str, Any] = {}
    for name, language in all_languages().items():
        if task in language.prompts:
            if name in found:
                raise SpecError(f"{path} has {task} templates for {name!r}, and so has the "
                                f"plugin language {name!r}: remove one of them")  # fmt: skip
            out[name] = dict(language.prompts[task])
    _validate({"task": task, "version": "", "languages": out},
              Path(f"the {task} prompts of plugin languages"))  # fmt: skip
    return out
