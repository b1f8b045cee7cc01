"""The tables of judgements (``vad judge``) and of how far the scores agree.

- **judges**: per judge and the drawings' model, task, level and language (and what
  changes a judge's reply: its prompt version, the number of captions it chose among),
  recognition top-1 accuracy (Wilson) and mean fidelity 1-10 (bootstrap);
- **pairwise**: per judge, Bradley-Terry ratings of the drawing models (choix) with
  bootstrap intervals over the comparisons;
- **agreement**: for each pair of scores of the same drawings (the shapes verifier, CLIP
  top-1, each judge's recognition and fidelity), Kendall's tau between the rankings of
  the models they give, and, against the verifier, how often a drawing's verdicts agree
  (a judge "passes" a drawing it recognises, or rates 6 or more).

Only judgements of samples the leaderboard shows count (a request two runs both asked is
one sample), so a cell pools only what its row names; each row lists its samples' lines.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from vad.leaderboard.tables import Row, Table, prompt_version
from vad.scoring.base import Sample, ScoringContext
from vad.scoring.judgement_file import read_judgements
from vad.scoring.judgements import (
    bradley_terry,
    mean_fidelity,
    pairwise_outcomes,
    recognition_accuracy,
    unparsable,
)
from vad.scoring.stats import Estimate, proportion
from vad.scoring.verified import verdicts

PASS_FIDELITY = 6  # a fidelity rating at or above this passes a drawing
_MIN_MODELS_FOR_TAU = 3


def load_judgements(samples: list[Sample], folders: dict[str, Path]) -> list[dict[str, Any]]:
    """Every judgement of a shown sample (both, for pairwise), once.

    A judgement names its samples by run and ``sample_id``: the line it gives is read
    again from the samples shown (finishing a run rewrites samples.jsonl, and its lines
    move). A judgement made twice (the same judge, settings and samples: ``vad judge A
    B`` then ``vad judge B A``) counts once.
    """
    line_of = {(run, str(rec.get("sample_id"))): line for run, line, rec in samples}
    out, seen = [], set()
    for folder in folders.values():
        for j in read_judgements(folder):
            pairwise = j.get("kind") == "pairwise"
            refs = j.get("samples") if pairwise else [j]
            if not isinstance(refs, list) or not refs or not all(isinstance(r, dict) for r in refs):
                continue
            lines = [line_of.get((str(r.get("run")), str(r.get("sample_id")))) for r in refs]
            if any(line is None for line in lines):
                continue  # a sample not shown (another run's copy of a request, or gone)
            moved = [{**r, "line": line} for r, line in zip(refs, lines, strict=True)]
            j = {**j, "samples": moved} if pairwise else {**j, "line": lines[0]}
            once = (_settings(j), str(j.get("kind")),
                    tuple(sorted((str(r["run"]), str(r["sample_id"])) for r in refs)))  # fmt: skip
            if once not in seen:
                seen.add(once)
                out.append(j)
    return out


def _settings(j: dict[str, Any]) -> str:
    """What changes a judge's reply besides the drawing: judge, prompt, sampling, K."""
    parts = [str(j.get("judge")), f"prompt {j.get('prompt_version')}",
             f"T={j.get('temperature', '?')}", f"max {j.get('max_tokens', '?')}"]  # fmt: skip
    if j.get("kind") == "recognition":
        parts += [f"{len(j.get('options') or [])} captions", f"seed {j.get('seed', '?')}"]
    if j.get("api_base"):
        parts.append(str(j["api_base"]))
    return ", ".join(parts)


def judge_tables(ctx: ScoringContext, judgements: list[dict[str, Any]]) -> list[Table]:
    """The judges, pairwise and agreement tables (those that have rows)."""
    records = {(run, line): rec for run, line, rec in ctx.samples}
    tables = [_judges(judgements, records), _pairwise(judgements),
              _agreement(ctx, judgements, records)]  # fmt: skip
    return [t for t in tables if t.rows]


def _sample_fields(j: dict[str, Any], records: dict[tuple[str, int], dict]) -> dict[str, str]:
    rec = records.get((j.get("run"), j.get("line")), {})
    return {"prompt version": prompt_version(rec) if rec else "?",
            "temperature": str(rec.get("temperature", "?")),
            "max tokens": str(rec.get("max_tokens", "?"))}  # fmt: skip


def _judges(judgements: list[dict[str, Any]], records: dict) -> Table:
    keys = ["judge", "judge prompt", "judge sampling", "captions shown", "model",
            "prompt version", "temperature", "max tokens", "task", "level", "language"]  # fmt: skip
    at = keys.index("captions shown")
    base_keys = keys[:at] + keys[at + 1 :]
    # one row per judge x drawing group: recognition and fidelity meet on the same
    # drawings, whatever the number of captions shown
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for j in judgements:
        if j.get("kind") not in ("recognition", "fidelity"):
            continue
        fields = {"judge": str(j.get("judge")), "judge prompt": str(j.get("prompt_version")),
                  "judge sampling": _sampling(j),
                  "model": str(j.get("model")), "task": str(j.get("task")),
                  "level": str(j.get("level")), "language": str(j.get("language")),
                  **_sample_fields(j, records)}  # fmt: skip
        groups[tuple(fields[k] for k in base_keys)].append(j)
    rows = []
    for base, members in sorted(groups.items()):
        shown = sorted({_shown(j) for j in members if j.get("kind") == "recognition"})
        if len(shown) > 1:  # accuracy among 5 and among 10 captions: two rows,
            for k in shown:  # and the ratings a row of their own
                part = [j for j in members if j.get("kind") == "recognition" and _shown(j) == k]
                rows.append(_judge_row(keys, (*base[:at], k, *base[at:]), part))
            fidelity = [j for j in members if j.get("kind") == "fidelity"]
            if fidelity:
                rows.append(_judge_row(keys, (*base[:at], "–", *base[at:]), fidelity))
        else:
            k = shown[0] if shown else "–"
            rows.append(_judge_row(keys, (*base[:at], k, *base[at:]), members))
    return Table("judges", "Judges: vision models score the drawings", keys,
                 ["judge top-1 %", "judge fidelity (1-10)"], rows,
                 "Recognition: the judge sees only the image and picks its caption among "
                 "the captions shown (the concept's and distractors of its level); "
                 "fidelity: a 1-10 rating against the rubric in prompts/judge.yaml. "
                 "Unparsable replies are left out (not scored).")  # fmt: skip


def _shown(j: dict[str, Any]) -> str:
    return f"{len(j.get('options') or [])} (seed {j.get('seed', '?')})"


def _sampling(j: dict[str, Any]) -> str:
    text = f"T={j.get('temperature', '?')}, max {j.get('max_tokens', '?')}"
    return text + (f", {j['api_base']}" if j.get("api_base") else "")


def _judge_row(keys: list[str], key: tuple[str, ...], members: list[dict[str, Any]]) -> Row:
    recog = [j for j in members if j.get("kind") == "recognition"]
    fid = [j for j in members if j.get("kind") == "fidelity"]
    values: dict[str, Estimate | str] = {
        "judge top-1 %": recognition_accuracy(recog) if recog else "–",
        "judge fidelity (1-10)": mean_fidelity(fid) if fid else "–",
    }
    counts = {
        "unparsable recognition": unparsable(recog, "recognition"),
        "unparsable fidelity": unparsable(fid, "fidelity"),
    }
    missed = {k: n for k, n in counts.items() if n}
    lines = sorted({(str(j["run"]), int(j["line"])) for j in members})
    return Row(dict(zip(keys, key, strict=True)), values, lines, len(members),
               len(members) - sum(missed.values()), missed)  # fmt: skip


def _pairwise(judgements: list[dict[str, Any]]) -> Table:
    keys = ["judge", "judge prompt", "judge sampling", "task", "level", "language", "model"]
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for j in judgements:
        if j.get("kind") == "pairwise":
            groups[(str(j.get("judge")), str(j.get("prompt_version")), _sampling(j),
                    str(j.get("task")), str(j.get("level")),
                    str(j.get("language")))].append(j)  # fmt: skip
    rows = []
    for key, members in sorted(groups.items()):
        ratings = bradley_terry(pairwise_outcomes(members))
        for model, estimate in sorted(ratings.items(), key=lambda kv: -kv[1].mean):
            mine = [j for j in members if model in {s.get("model") for s in j["samples"]}]
            lines = sorted({(str(s["run"]), int(s["line"])) for j in mine for s in j["samples"]
                            if s.get("model") == model})  # fmt: skip
            bad = unparsable(mine, "pairwise")
            record = _record(model, mine)
            rows.append(Row(dict(zip(keys, (*key, model), strict=True)),
                            {"Bradley-Terry rating": estimate, "wins / ties / losses": record},
                            lines, len(mine), len(mine) - bad,
                            {"unparsable": bad} if bad else {}))  # fmt: skip
    return Table("pairwise", "Pairwise: which model's drawing a judge prefers", keys,
                 ["Bradley-Terry rating", "wins / ties / losses"], rows,
                 "Each pair of drawings (same concept, language and sample) asked in both "
                 "orders; answers that disagree are a tie (half a win each way). Ratings "
                 "are log-strengths with mean 0 (choix), intervals from a bootstrap over "
                 "the comparisons.")  # fmt: skip


def _record(model: str, judgements: list[dict[str, Any]]) -> str:
    """A model's wins, ties and losses in the parsed comparisons it took part in."""
    wins = ties = losses = 0
    for j in judgements:
        if not j.get("parsed") or j.get("winner") not in ("a", "b", "tie"):
            continue
        side = "a" if j["samples"][0].get("model") == model else "b"
        if j["winner"] == "tie":
            ties += 1
        elif j["winner"] == side:
            wins += 1
        else:
            losses += 1
    return f"{wins} / {ties} / {losses}"


# ---------------------------------------------------------------- agreement


def _scores(ctx: ScoringContext, judgements: list[dict[str, Any]]) -> dict[str, dict]:
    """Per score name: (run, line) -> value in [0, 1] (pass/fail for binary scores)."""
    out: dict[str, dict[tuple[str, int], float]] = defaultdict(dict)
    for ref, verdict in verdicts(ctx).items():
        out["verifier"][ref] = 1.0 if verdict and verdict.get("verified") is True else 0.0
    for ref, clip in (ctx.clip_scores or {}).items():
        out["CLIP top-1"][ref] = float(clip["top1"])
    shares: dict[str, dict[tuple[str, int], list[float]]] = defaultdict(lambda: defaultdict(list))
    for j in judgements:  # a drawing's share of the comparisons it won (a tie: half)
        if j.get("kind") == "pairwise" and j.get("parsed") and j.get("winner") in WIN:
            for side, ref in zip("ab", j["samples"], strict=False):
                won = 0.5 if j["winner"] == "tie" else float(j["winner"] == side)
                shares[f"pairwise by {_settings(j)}"][(str(ref["run"]), int(ref["line"]))].append(
                    won
                )
    for name, by_ref in shares.items():
        out[name] = {ref: sum(v) / len(v) for ref, v in by_ref.items()}
    for j in judgements:
        if not j.get("parsed") or j.get("kind") not in ("recognition", "fidelity"):
            continue
        ref = (str(j["run"]), int(j["line"]))
        name = f"{j['kind']} by {_settings(j)}"
        if j["kind"] == "recognition":
            out[name][ref] = 1.0 if j.get("correct") else 0.0
        else:
            out[name][ref] = float(j["score"]) / 10
    return dict(out)


WIN = ("a", "b", "tie")


def _passes(name: str, value: float) -> bool:
    return value >= PASS_FIDELITY / 10 if name.startswith("fidelity by ") else value >= 1.0


def kendall_tau(a: dict[str, float], b: dict[str, float]) -> float | None:
    """Kendall's tau-b between two scorings of the same models (None: too few)."""
    from scipy.stats import kendalltau

    models = sorted(set(a) & set(b))
    if len(models) < _MIN_MODELS_FOR_TAU:
        return None
    tau = kendalltau([a[m] for m in models], [b[m] for m in models]).statistic
    return None if tau != tau else float(tau)  # NaN when one side has no spread


def _agreement(ctx: ScoringContext, judgements: list[dict[str, Any]], records: dict) -> Table:
    scores = _scores(ctx, judgements)
    names = sorted(scores, key=lambda n: (n != "verifier", n))
    keys = ["score", "against"]
    rows = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            common = sorted(set(scores[first]) & set(scores[second]))
            if not common:
                continue
            means: tuple[dict[str, float], dict[str, float]] = ({}, {})
            by_model: dict[str, list[tuple[str, int]]] = defaultdict(list)
            for ref in common:
                by_model[str(records.get(ref, {}).get("model"))].append(ref)
            for side, name in enumerate((first, second)):
                for model, refs in by_model.items():
                    means[side][model] = sum(scores[name][r] for r in refs) / len(refs)
            tau = kendall_tau(*means)
            if tau is not None:
                tau_text = f"{tau:+.2f} ({len(by_model)} models)"
            elif len(by_model) < _MIN_MODELS_FOR_TAU:
                n = len(by_model)
                tau_text = f"– ({n} model{'' if n == 1 else 's'}; needs {_MIN_MODELS_FOR_TAU})"
            else:
                tau_text = "– (one score gives every model the same)"
            values: dict[str, Estimate | str] = {
                "Kendall tau of model ranks": tau_text,
                "same verdict per drawing %": "–",
            }  # fmt: skip
            if first == "verifier" and not second.startswith("pairwise by "):
                a, b = scores[first], scores[second]
                agree = [float(_passes(first, a[r]) == _passes(second, b[r])) for r in common]
                values["same verdict per drawing %"] = proportion(agree)
            rows.append(Row({"score": first, "against": second}, values, common, len(common),
                            len(common)))  # fmt: skip
    return Table("agreement", "How far the scores agree", keys,
                 ["Kendall tau of model ranks", "same verdict per drawing %"], rows,
                 "Over the drawings both scores saw: tau between the models' mean scores "
                 "(+1: the same order; for pairwise votes, a drawing's share of the "
                 "comparisons it won); against the shapes verifier, the share of drawings "
                 f"where both pass or both fail (a judge passes a drawing it recognises or "
                 f"rates {PASS_FIDELITY} or more; CLIP one it ranks first).")  # fmt: skip
