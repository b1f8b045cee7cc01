"""The judges' questions, filled from ``prompts/judge.yaml`` with their images.

Recognition shows the judge the image and K captions: the concept's own and K-1 others
of the same level, drawn and shuffled by an RNG seeded with the run's ``--seed`` and the
sample, so that the same sample is asked the same question on every run (its request
key, and so the stored reply, stays the same).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from vad.prompts import Prompt, load_prompts

KINDS = ("recognition", "fidelity", "pairwise")
DEFAULT_CHOICES = 5
TEMPLATES = "judge"


def version() -> str:
    """The version of ``prompts/judge.yaml`` (recorded with every judgement)."""
    return load_prompts(TEMPLATES).version


@dataclass(frozen=True)
class Choice:
    """A recognition question: the captions shown, by letter, and the right letter."""

    prompt: Prompt
    options: tuple[str, ...]  # in the order shown: options[i] is letter i
    answer: str  # the letter of the concept's own caption

    @property
    def letters(self) -> str:
        return string.ascii_uppercase[: len(self.options)]


def choose_options(
    caption: str, pool: list[str], k: int, seed: int, sample: str
) -> tuple[list[str], int]:
    """``caption`` and up to ``k``-1 distractors from ``pool`` (other captions of its
    level), shuffled; returns the options and the index of ``caption`` among them.
    A pool with no other caption raises ValueError: a one-option question is always
    answered right (``vad judge`` skips such drawings, see :func:`offers_choice`).

    The RNG is seeded with ``seed`` and ``sample`` (a string naming the sample): the
    same sample gets the same options whatever else is judged with it."""
    if not 2 <= k <= 26:
        raise ValueError(f"recognition needs 2 to 26 options, not {k}")
    rng = random.Random(f"judge:{seed}:{sample}")
    others = sorted({c for c in pool if c != caption})
    if not others:
        raise ValueError(f"recognition of {caption!r}: no other caption to choose among")
    options = [caption, *rng.sample(others, min(k - 1, len(others)))]
    rng.shuffle(options)
    return options, options.index(caption)


def offers_choice(caption: str, pool: list[str]) -> bool:
    """Whether ``pool`` holds a caption other than ``caption`` (a question of 2+ options)."""
    return any(c != caption for c in pool)


def recognition(image: bytes, caption: str, pool: list[str], k: int, seed: int,
                sample: str) -> Choice:  # fmt: skip
    options, index = choose_options(caption, pool, k, seed, sample)
    letters = string.ascii_uppercase[: len(options)]
    listed = "\n".join(f"{letter}. {text}" for letter, text in zip(letters, options, strict=True))
    prompt = load_prompts(TEMPLATES).render(
        "recognition", "chat", {"options": listed, "letters": ", ".join(letters)}
    )
    return Choice(prompt.with_images(image), tuple(options), letters[index])


def fidelity(image: bytes, caption: str) -> Prompt:
    """A 1-10 rating of one drawing against its caption."""
    prompt = load_prompts(TEMPLATES).render("fidelity", "chat", {"caption": caption})
    return prompt.with_images(image)


def pairwise(first: bytes, second: bytes, caption: str) -> Prompt:
    """Which of two drawings of ``caption`` is better: drawing 1 is ``first``."""
    prompt = load_prompts(TEMPLATES).render("pairwise", "chat", {"caption": caption})
    return prompt.with_images(first, second)
