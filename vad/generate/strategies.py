"""Concept sources of a training set, each a named strategy versioned in prompts/.

A strategy yields an endless, seeded stream of captions to draw. Every item is a pure
function of (strategy, seed, position), so a resumed or sharded run asks for exactly
the same drawings in the same order.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from vad._paths import project_dir
from vad.concepts import Concept, read_concept_file
from vad.errors import SpecError, VadError
from vad.languages import get_language
from vad.prompts import fill
from vad.registry import Registry


@dataclass(frozen=True)
class Item:
    """One drawing to ask for: a caption, where it came from, and its sample index."""

    key: str  # unique within a strategy: the record's id is built from it
    strategy: str
    caption: str
    label: str  # the class of the image in the training set
    level: str
    sample_index: int
    sources: tuple[str, ...] = ()  # concept ids it was made from
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


Stream = Callable[[list[Concept], int], Iterator[Item]]
# Strategies of installed packages (entry points "vad.strategies", vad/plugins.py) join on
# first look-up.
STRATEGIES: Registry[Stream] = Registry(
    "unknown strategy {name}: choose from {choices}", "vad.strategies"
)


@cache
def strategy_file() -> dict[str, Any]:
    path = project_dir("prompts") / "generate.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("strategies"), dict):
        raise SpecError(f"{path}: expected a mapping with 'version' and 'strategies'")
    return data


def strategy_version() -> str:
    return str(strategy_file()["version"])


def _settings(name: str) -> dict[str, Any]:
    settings = strategy_file()["strategies"].get(name)
    if not isinstance(settings, dict):
        raise SpecError(f"prompts/generate.yaml has no settings for strategy {name!r}")
    return settings


def rounds(name: str, concepts: list[Concept], seed: int) -> Iterator[Item]:
    """Every concept once per round; round r is sample index r (a distinct seed)."""
    order = list(concepts)
    random.Random(seed).shuffle(order)
    index = 0
    while True:
        for concept in order:
            yield Item(f"{name}:{concept.id}:{index}", name, concept.caption, concept.id,
                       concept.level, index, (concept.id,))  # fmt: skip
        index += 1


@STRATEGIES.register("vad")
def vad_stream(concepts: list[Concept], seed: int) -> Iterator[Item]:
    """The Visual Aptitude Dataset's concepts, many seeds each."""
    return rounds("vad", concepts, seed)


@STRATEGIES.register("propose")
def propose_stream(concepts: list[Concept], seed: int) -> Iterator[Item]:
    """The concepts the model proposed (see ``proposal_prompts``), many seeds each."""
    return rounds("propose", concepts, seed)


NEEDS_PROPOSALS = {"propose"}


def proposal_prompts(style: str) -> list[tuple[str, Any]]:
    """(category, prompt) for every category of the propose strategy."""
    from vad.prompts import Prompt

    settings = _settings("propose")
    out = []
    for category in settings["categories"]:
        values = {"category": category, "count": settings["count"]}
        template = settings[style]
        if style == "chat":
            messages = [{"role": "system", "content": template["system"]},
                        {"role": "user", "content": fill(template["user"], values)}]  # fmt: skip
            prompt = Prompt("generate/propose/chat", strategy_version(), "chat", messages)
        else:
            prompt = Prompt("generate/propose/completion", strategy_version(), "completion",
                            prompt=fill(template["prompt"], values),
                            stop=list(template.get("stop", [])))  # fmt: skip
        out.append((str(category), prompt))
    return out


def parse_proposals(text: str, category: str, limit: int = 100) -> list[Concept]:
    """Noun phrases, one per line: bullets and numbers removed, duplicates dropped."""
    found: dict[str, Concept] = {}
    for line in text.splitlines():
        phrase = re.sub(r"^\s*(?:[-*•]|\d+[.)])?\s*", "", line).strip().rstrip(".,;:")
        phrase = " ".join(phrase.split())
        words = phrase.split()
        if not 1 <= len(words) <= 6 or len(phrase) > 60 or not re.search(r"[A-Za-z]", phrase):
            continue
        key = re.sub(r"^(a|an|the) ", "", phrase.lower())
        ident = "proposed-" + re.sub(r"[^a-z0-9]+", "-", key).strip("-")
        if ident != "proposed-" and ident not in found:
            found[ident] = Concept(ident[:128], "proposed", phrase, {"category": category},
                                   "proposed")  # fmt: skip
        if len(found) >= limit:
            break
    return list(found.values())


def read_proposals(path: Path) -> list[Concept]:
    """The concepts of a ``proposed-concepts.jsonl`` written by a propose run, read and
    checked like any concept file."""
    try:
        found = read_concept_file(path)
    except VadError as exc:
        raise SpecError(f"--proposals: {exc}; give the proposed-concepts.jsonl of a "
                        "propose run") from None  # fmt: skip
    if not found:
        raise SpecError(f"--proposals {path}: no concept in it")
    return found


@STRATEGIES.register("compose")
def compose_stream(concepts: list[Concept], seed: int) -> Iterator[Item]:
    """Two distinct concepts in one of the templates, seeded; each pair is recorded."""
    if len(concepts) < 2:
        raise SpecError("strategy compose needs at least two concepts")
    settings = _settings("compose")
    templates, places = list(settings["templates"]), list(settings["places"])
    position = 0
    while True:
        rng = random.Random(f"{seed}:{position}")
        a, b = rng.sample(concepts, 2)
        t = rng.randrange(len(templates))
        place = rng.choice(places)
        caption = fill(templates[t], {"a": a.caption, "b": b.caption, "place": place})
        yield Item(f"compose:{position}", "compose", caption, f"{a.id}+{b.id}",
                   b.level, position, (a.id, b.id), {"template": t, "place": place})  # fmt: skip
        position += 1


def stream(name: str, concepts: list[Concept], seed: int) -> Iterator[Item]:
    return STRATEGIES.get(name)(concepts, seed)


NEEDS_SOURCE = {"vary"}
# generate's v1 prompts wrote "Python matplotlib"; kept so that their cache keys hold
_WRITTEN_AS = {"matplotlib": "Python matplotlib"}


def vary_stream(kept: list[dict[str, Any]], seed: int) -> Iterator[Item]:
    """Each kept program of the source set in turn, with a variation that changes with
    the round; deterministic given the source's records (in their file order)."""
    if not kept:
        raise SpecError("strategy vary needs a --from set with kept drawings and their code")
    kinds = list(_settings("vary")["variations"])
    order = list(kept)
    random.Random(seed).shuffle(order)
    position = 0
    while True:
        record = order[position % len(order)]
        rnd = position // len(order)
        kind = kinds[(position + rnd) % len(kinds)]
        yield Item(f"vary:{record['id']}:{rnd}", "vary", str(record["caption"]),
                   str(record["label"]), str(record.get("level", "")), position,
                   tuple(str(s) for s in record.get("sources", [])),
                   {"from": record["sample_id"], "variation": kind,
                    "language": record["language"], "program": record["code"]})  # fmt: skip
        position += 1


def vary_prompt(item: Item, width: int, height: int) -> Any:
    """The chat prompt of a variation: the program, and what to change."""
    from vad.prompts import Prompt

    template = _settings("vary")["chat"]
    lang = str(item.extra["language"])
    named = _WRITTEN_AS.get(lang) or get_language(lang).display
    values = {"language": named, "caption": item.caption,
              "code": item.extra["program"], "variation": item.extra["variation"],
              "width": width, "height": height}  # fmt: skip
    messages = [{"role": "system", "content": template["system"]},
                {"role": "user", "content": fill(template["user"], values)}]  # fmt: skip
    return Prompt("generate/vary/chat", strategy_version(), "chat", messages)


@STRATEGIES.register("vary")
def _vary_placeholder(concepts: list[Concept], seed: int) -> Iterator[Item]:
    """Registered for its name: the stream is made from the --from set (``vary_stream``)."""
    return iter(())
