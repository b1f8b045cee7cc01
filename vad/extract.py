"""Pull drawing code out of model replies, and record how it was found.

Replies of small models are messy: fences left open because the reply hit the token
limit, info strings like "svg code", chatter before and after the code, several
blocks. Each extraction says which method found the code and what it had to repair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vad.languages import all_languages, get_language

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([^\n`]*)$")


@dataclass(frozen=True)
class Extraction:
    """The code found in a reply (None if none), the method, and any repairs made."""

    code: str | None
    method: str
    notes: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, object]:
        return {"method": self.method, "notes": self.notes}


def _fenced_blocks(text: str) -> list[tuple[str, str, bool]]:
    """``(info, body, closed)`` for every fenced block, in order."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info = match.group(1), match.group(2).strip()
        body, i, closed = [], i + 1, False
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * 3) and set(stripped) <= {fence[0]}:
                closed = True
                i += 1
                break
            body.append(lines[i])
            i += 1
        blocks.append((info, "\n".join(body), closed))
    return blocks


def _finish(lang: str, code: str, method: str, notes: list[str]) -> Extraction:
    fixed = get_language(lang).repair(code, notes)
    if fixed is None or not fixed.strip():
        return Extraction(None, "none", [*notes, f"no {lang} code found"])
    return Extraction(fixed, method, notes)


def _other_languages(lang: str, info: str, body: str) -> str:
    """The other languages a block's info string or code names ("" when none)."""
    asked = get_language(lang).name
    names = [
        name
        for name, language in all_languages().items()
        if name != asked and (language.fence_matches(info) or language.mentions(body))
    ]
    return " or ".join(names)


def extract_chat(reply: str, lang: str) -> Extraction:
    """Find the ``lang`` code in a chat reply: fenced blocks first, then bare code."""
    notes: list[str] = []
    language = get_language(lang)
    blocks = _fenced_blocks(reply or "")
    if blocks:
        matching = [b for b in blocks if language.mentions(b[1])]
        if not matching:  # then a block whose info string names the language
            matching = [b for b in blocks if language.fence_matches(b[0])]
        info, body, closed = matching[0] if matching else max(blocks, key=lambda b: len(b[1]))
        if not language.mentions(body):  # a shared fence (python) may hold another's code
            others = _other_languages(lang, "" if matching else info, body)
        else:
            others = ""
        if others:
            # Code of another language is no code of this one, fenced or bare alike.
            tag = info.split()[0] if info else ""
            named = f"{tag} ({others})" if tag and tag not in others.split(" or ") else others
            return Extraction(None, "none", [f"the reply's code is {named}, not {lang}"])
        if len(blocks) > 1:
            notes.append(f"picked 1 of {len(blocks)} fenced blocks")
        if info:
            notes.append(f"info string {info!r}")
        return _finish(lang, body, "fenced" if closed else "fenced-unclosed", notes)
    if not language.mentions(reply or ""):
        return Extraction(None, "none", [f"no {lang} code found"])
    return _finish(lang, reply, "bare", notes)


def extract_completion(
    reply: str, lang: str, code_start: str, code_end: str, stop: list[str], truncated: bool
) -> Extraction:
    """Rebuild code from a completion that continued ``code_start`` up to a stop sequence."""
    notes: list[str] = []
    text = reply or ""
    cuts = [text.find(s) for s in [*stop, "```"] if s and s in text]
    if cuts:
        text = text[: min(cuts)]
        notes.append("cut at a stop sequence")
    code = code_start + text
    if truncated:
        notes.append("reply hit the token limit")
    elif code_end and not code.rstrip().endswith(code_end):
        code = code.rstrip() + "\n" + code_end
    return _finish(lang, code, "completion", notes)
