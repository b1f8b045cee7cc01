"""People's votes (``vad arena --export-votes FILE``) as pairwise judgements.

A vote names its two drawings by run and ``sample_id`` and says left, right, tie or
both bad. Read here, each becomes a pairwise judgement of the judge :data:`PEOPLE`, so
the leaderboard's pairwise table rates the models by people's preferences (Bradley-Terry
with bootstrap intervals) beside the vision judges', and its agreement table sets
people's ranking against every automatic score. "Both bad" says nothing of which is
better: it is counted, not rated. A vote of a drawing not on the board (another run, a
sample rewritten since) is left out, and said.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vad.errors import VadError
from vad.leaderboard.tables import Sample

PEOPLE = "people (vad arena)"
WINNER = {"left": "a", "right": "b", "tie": "tie"}


def load_votes(paths: list[str | Path], samples: list[Sample]) -> tuple[list[dict], list[str]]:
    """The votes of ``paths`` as judgements of shown samples, and lines to warn with."""
    where = {(run, str(rec.get("sample_id"))): (line, rec) for run, line, rec in samples}
    out: list[dict[str, Any]] = []
    warnings: list[str] = []
    for path in map(Path, paths):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise VadError(f"--votes {path}: cannot read it ({exc.strerror or exc}); give "
                           "a file written by `vad arena --export-votes`") from None  # fmt: skip
        bad = unknown = both_bad = 0
        for raw in text.splitlines():
            try:
                vote = json.loads(raw)
                sides = [(str(vote[f"{s}_run"]), str(vote[f"{s}_sample_id"]))
                         for s in ("left", "right")]  # fmt: skip
                choice = str(vote["choice"])
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            if choice == "bad":
                both_bad += 1
                continue
            found = [where.get(side) for side in sides]
            if choice not in WINNER or None in found:
                unknown += choice in WINNER
                bad += choice not in WINNER
                continue
            (left_line, left), (right_line, right) = found  # type: ignore[misc]
            out.append({
                "judge": PEOPLE, "kind": "pairwise", "prompt_version": "votes",
                "temperature": "–", "max_tokens": "–", "parsed": True,
                "winner": WINNER[choice], "voter": vote.get("voter"),
                "created_at": vote.get("created_at"), "task": left.get("task"),
                "level": left.get("level"), "language": left.get("language"),
                "concept_id": left.get("concept_id"), "caption": left.get("caption"),
                "samples": [
                    {"run": sides[0][0], "sample_id": sides[0][1], "line": left_line,
                     "model": left.get("model")},
                    {"run": sides[1][0], "sample_id": sides[1][1], "line": right_line,
                     "model": right.get("model")},
                ],
            })  # fmt: skip
        if bad:
            warnings.append(f"--votes {path}: {bad} line(s) are not votes (not JSON, or "
                            "without the fields `vad arena` writes): left out")  # fmt: skip
        if unknown:
            warnings.append(f"--votes {path}: {unknown} vote(s) name drawings not on this "
                            "board (other runs, or samples rewritten since): left out")  # fmt: skip
        if both_bad:
            warnings.append(f"--votes {path}: {both_bad} vote(s) found both drawings bad: "
                            "counted, not rated")  # fmt: skip
    return out, warnings
