"""``--strategy propose``: the models name visual things to draw, before any drawing.

Each model is asked once per category (``proposal_prompts``); the replies come from
the response store when there, so a resumed run proposes the same. The concepts are
saved as ``proposed-concepts.jsonl`` in the generation folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vad import pipeline
from vad.concepts import Concept
from vad.errors import VadError
from vad.generate.budget import Budget, SetupMeter
from vad.generate.strategies import parse_proposals, proposal_prompts
from vad.models import ModelClient, ResolvedModel, SamplingParams
from vad.store import ResponseStore


def propose(
    models: list[tuple[ResolvedModel, str]],
    clients: dict[str, ModelClient],
    store: ResponseStore,
    temperature: float,
    seed: int,
    budget: Budget,
    folder: Path,
    say: Callable[[str], None],
) -> tuple[list[Concept], dict[str, Any]]:
    """Ask each model (with its style) for visual things in every category; save them
    as a concept file in ``folder``. The concepts, and what the manifest says of them."""
    found: dict[str, Concept] = {}
    rows = []
    for model, style in models:
        for index, (category, prompt) in enumerate(proposal_prompts(style)):
            params = SamplingParams(temperature, 512, seed + index)
            meter = SetupMeter(budget, model.name, prompt)
            request = pipeline.Request(model, prompt, params, index)
            asked = pipeline.ask(store, clients[model.name], request, meter)
            if asked.reply is None:
                raise VadError(f"proposing concepts: {asked.error}")
            reply = asked.reply
            text = reply.text if prompt.style == "chat" else "- " + reply.text
            for concept in parse_proposals(text, category):
                if concept.id not in found:
                    found[concept.id] = concept
                    rows.append({"id": concept.id, "level": concept.level,
                                 "caption": concept.caption, "category": category,
                                 "model": model.name})  # fmt: skip
    if not found:
        raise VadError("the models proposed nothing usable to draw (no line was a short "
                       "noun phrase): try another model or strategy")  # fmt: skip
    path = folder / "proposed-concepts.jsonl"
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    proposed = {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(),
                "count": len(rows),
                "per_category": dict(Counter(r["category"] for r in rows))}  # fmt: skip
    say(f"proposed concepts: {len(rows)} in {path}")
    return list(found.values()), proposed
