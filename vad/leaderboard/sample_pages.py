"""A page for every sample: one viewer (``sample.html``) over per-run data chunks.

A site over 100,000 samples cannot hold a file per sample and stay quick to build and
copy, so each run's samples go to ``data/r<N>/c<K>.js`` files of ``CHUNK`` lines each (a
script that hands its records to the viewer: script tags load from ``file://``, where
``fetch`` cannot), and ``sample.html#run=R&line=L`` loads the one chunk it needs. A
record there is what the sample page shows: the request's fields, the prompt as sent,
the reply, the code (highlighted by Pygments at build time), the render's verdict, every
score with its reason (the verifier's checks, each judge's answer), and for a round of
correction its chain's lines and the feedback the round was sent.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from markupsafe import Markup

from vad.leaderboard.images import Images
from vad.leaderboard.render import sample_href, site_path, visible
from vad.leaderboard.tables import Sample
from vad.tasks.correct import feedback

CHUNK = 500  # samples per data file
LEXERS = {"svg": "xml", "matplotlib": "python", "turtle": "python", "tikz": "tex",
          "p5": "javascript", "processing": "java"}  # fmt: skip
MAX_HIGHLIGHT = 200_000  # characters: longer code is shown plain
_WHITESPACE = re.compile(r'<span class="w">(\s*)</span>')


@functools.cache
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True)


@functools.cache
def _lexer(language: str) -> Any:
    from pygments.lexers import get_lexer_by_name

    return get_lexer_by_name(LEXERS.get(language, "text"), stripnl=False, ensurenl=False)


def code_css() -> Markup:
    """The highlighting's style rules (Pygments' own, a trusted constant)."""
    return Markup(_formatter().get_style_defs(".hl"))


def highlight(code: str, language: str) -> str | None:
    """``code`` as HTML spans (Pygments escapes every character of it); None when it is
    too long to be worth it."""
    from pygments import highlight as pygmentize

    if len(code) > MAX_HIGHLIGHT:
        return None
    # whitespace needs no colour: its spans (most of them) go, its text stays
    return _WHITESPACE.sub(r"\1", pygmentize(code, _lexer(language), _formatter()))


def _answer(j: dict[str, Any], run: str, line: int) -> tuple[str, str]:
    """What a judgement said of one sample, and its reason."""
    kind = j.get("kind")
    if not j.get("parsed"):
        return "unparsable reply: " + str(j.get("raw_reply", ""))[:300], ""
    if kind == "recognition":
        options = j.get("options") or []
        index = ord(str(j.get("choice") or "A")[:1]) - 65
        picked = options[index] if 0 <= index < len(options) else j.get("choice")
        return f"picked {picked!s} ({'right' if j.get('correct') else 'wrong'})", ""
    if kind == "fidelity":
        return f"{j.get('score')}/10", str(j.get("reason") or "")
    samples = j.get("samples") or []
    me = next((i for i, s in enumerate(samples) if (s.get("run"), s.get("line")) == (run, line)),
              0)  # fmt: skip
    other = samples[1 - me].get("model") if len(samples) == 2 else "?"
    winner = j.get("winner")
    said = "a tie (the two orders disagree)" if winner == "tie" else (
        "this drawing is better" if winner == "ab"[me] else "the other is better")  # fmt: skip
    return f"against {other}: {said}", ""


def _judgements(judgements: list[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    by_sample: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for j in judgements:
        refs = j.get("samples") if j.get("kind") == "pairwise" else [j]
        for ref in refs if isinstance(refs, list) else []:
            if not isinstance(ref, dict) or not isinstance(ref.get("line"), int):
                continue
            where = (str(ref.get("run")), ref["line"])
            try:
                answer, reason = _answer(j, *where)
            except (TypeError, KeyError, ValueError, AttributeError, IndexError):
                answer, reason = "a judgement whose fields cannot be read", ""
            by_sample[where].append({"judge": j.get("judge"), "kind": j.get("kind"),
                                     "answer": answer, "reason": reason})  # fmt: skip
    return by_sample


def _chains(samples: list[Sample]) -> dict[tuple[str, int], list[int]]:
    """(run, line) of each round of a correction -> its chain's lines, in round order."""
    chains: dict[tuple[Any, ...], dict[int, int]] = defaultdict(dict)
    for run, line, rec in samples:
        if "round" in rec:
            key = (run, rec.get("task"), rec.get("model"), rec.get("language"),
                   rec.get("concept_id"), rec.get("sample_index"))  # fmt: skip
            chains[key][int(rec.get("round") or 0)] = line
    out = {}
    for key, rounds in chains.items():
        lines = [rounds[r] for r in sorted(rounds)]
        for line in lines:
            out[(key[0], line)] = lines
    return out


def sample_record(
    run: str,
    line: int,
    rec: dict[str, Any],
    src: str | None,
    verdict: dict[str, Any] | None,
    judged: list[dict[str, Any]],
    chain: list[int],
    sent: str | None,
    model_page: str | None,
) -> dict[str, Any]:
    """What the sample page shows of one sample (every control character in its text
    written as its escape, as on every page)."""
    rec = _visible(rec)
    code = rec.get("code")
    top = (
        "sample_id", "task", "concept_id", "level", "caption", "model", "language",
        "sample_index", "round", "prompt_version", "template", "temperature", "max_tokens",
        "seed", "status", "prompt_tokens", "completion_tokens", "cost_usd", "latency_s",
        "cached", "created_at", "raw_reply", "code", "prompt", "render", "extraction",
    )  # fmt: skip
    language = str(rec.get("language"))
    scores = rec.get("scores") if isinstance(rec.get("scores"), dict) else {}
    return {
        "line": line, "src": site_path(src) if src else None, "model_page": model_page,
        **{k: rec.get(k) for k in top},
        "reason": rec.get("reason") or rec.get("error") or (rec.get("render") or {}).get("reason"),
        "code_html": highlight(code, language) if isinstance(code, str) else None,
        "verdict": verdict,
        "judgements": _visible(judged),
        "other": {k: v for k, v in scores.items() if k != "verifier"},
        "chain": chain,
        "feedback": _visible(sent),
        # the rest of the record as written (what is shown above is not repeated)
        "record": {k: v for k, v in rec.items() if k not in top and k != "scores"},
    }  # fmt: skip


def write_sample_data(
    site: Path,
    samples: list[Sample],
    images: Images,
    judgements: list[dict[str, Any]],
    model_pages: dict[str, str],
) -> None:
    """``data/runs.js`` and every run's chunks (see the module's note)."""
    data = site / "data"
    data.mkdir()
    runs = sorted({run for run, _, _ in samples})
    dirs = images.dirs  # the same r<N> as the run's images
    judged = _judgements(judgements)
    chains = _chains(samples)
    by_line = {(run, line): rec for run, line, rec in samples}
    chunks: dict[tuple[str, int], dict[int, dict[str, Any]]] = defaultdict(dict)
    for run, line, rec in samples:
        chain = chains.get((run, line), [])
        sent = None
        if chain and chain.index(line) > 0:  # what this round was told of the one before
            previous = by_line.get((run, chain[chain.index(line) - 1]))
            sent = feedback(previous) if previous is not None else None
        chunks[(run, (line - 1) // CHUNK)][line] = sample_record(
            run,
            line,
            rec,
            images.src(run, rec),
            images.verdicts.get((run, line)),
            judged.get((run, line), []),
            chain,
            sent,
            model_pages.get(str(rec.get("model"))),
        )
    for run in runs:
        (data / dirs[run]).mkdir()
    for (run, k), records in sorted(chunks.items()):
        text = f"vadChunk({_js(run)}, {k}, {_js(records)});\n"
        (data / dirs[run] / f"c{k:05d}.js").write_text(text, encoding="ascii")
    index = {run: {"dir": dirs[run], "chunk": CHUNK} for run in runs}
    (data / "runs.js").write_text(f"window.VAD_RUNS = {_js(index)};\n", encoding="ascii")


def _visible(value: Any) -> Any:
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {visible(k) if isinstance(k, str) else k: _visible(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_visible(v) for v in value]
    return value


def _js(value: Any) -> str:
    """JSON as a JavaScript literal: ASCII only (a lone surrogate or U+2028 escaped)."""
    return json.dumps(value, ensure_ascii=True, default=str, separators=(",", ":"))


__all__ = ["CHUNK", "code_css", "sample_href", "write_sample_data"]
