"""Replies -> answers. A reply that does not say one answer plainly is unparsable
(``None``): it is recorded as such and never guessed, so that a judge that rambles
counts as no judgement, not as a random one."""

from __future__ import annotations

import re

# A letter followed by a lower-case word is read as a word, not as an answer: the
# article in "A drawing of a blue square", the pronoun in "I would say C". Unless that
# word is one only an option's letter goes with ("A or B", "C is the one").
_LINK = r"(?:or|and|nor|vs|versus|is|was|seems|appears|matches|fits)\b"
_NOT_A_WORD = rf"(?-i:(?!\s+(?!{_LINK})[a-z]))"
_ANSWER = re.compile(r"\b(?:answer|choice|option)\s*(?:is|:)?\s*[\(\[\"']?\s*([A-Za-z0-9]+)\b"
                     + _NOT_A_WORD, re.IGNORECASE)  # fmt: skip


def parse_letter(text: str, letters: str) -> str | None:
    """The one letter among ``letters`` that ``text`` answers, or None.

    Accepted: a lone letter ("B", "(B)", "B."), "Answer: B" / "the answer is B", or a
    reply in which exactly one of the letters stands alone as a word ("I pick C, the red
    circle", "B) a red square"); two different letters standing alone are unparsable.
    A capital letter followed by a lower-case word is that word's article or pronoun,
    not an answer ("A red circle.", "I would say C": C), unless the word links options
    ("A or B": unparsable)."""
    stripped = text.strip()
    lone = re.fullmatch(r"[\W_]*([A-Za-z])[\W_]*", stripped)
    if lone and lone.group(1).upper() in letters:
        return lone.group(1).upper()
    said = {m.group(1).upper() for m in _ANSWER.finditer(stripped) if len(m.group(1)) == 1}
    said &= set(letters)
    if len(said) == 1:
        return said.pop()
    standing = set(re.findall(rf"(?<![\w'])([{letters}])(?![\w']){_NOT_A_WORD}", stripped))
    return standing.pop() if len(standing) == 1 else None


_SCORE = re.compile(r"\bscore\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)\s*(?:/\s*10\b)?", re.IGNORECASE)
_REASON = re.compile(r"\breason\s*[:=]\s*\**\s*(.+)", re.IGNORECASE)


def parse_score(text: str) -> tuple[int | None, str]:
    """The 1-10 score of a "Score: N" reply (or of a reply that is just a number), and
    its one-line reason ('' when none). A score outside 1-10, a fraction, or two
    different scores: None."""
    scores = {m.group(1) for m in _SCORE.finditer(text)}
    if not scores and re.fullmatch(r"\s*\d+\s*(?:/\s*10)?\s*\.?\s*", text):
        scores = {re.findall(r"\d+", text)[0]}
    reason = _REASON.search(text)
    why = reason.group(1).strip().strip("*").strip() if reason else ""
    if len(scores) != 1:
        return None, why
    value = scores.pop()
    if not value.isdigit() or not 1 <= int(value) <= 10:
        return None, why
    return int(value), why


_WORDS = {"1": "1", "2": "2", "one": "1", "two": "2", "first": "1", "second": "2"}


def parse_choice(text: str) -> int | None:
    """1 or 2, from "1", "Drawing 2", "Answer: 1", "the first" ...; both named, or
    neither: None."""
    stripped = text.strip().lower()
    lone = re.fullmatch(r"[\W_]*(1|2|one|two|first|second)[\W_]*", stripped)
    if lone:
        return int(_WORDS[lone.group(1)])
    said = set()
    for word in re.findall(r"(?<![\w.])(1|2|first|second)(?!\w|\.\d)", stripped):
        said.add(_WORDS[word])
    return int(said.pop()) if len(said) == 1 else None
