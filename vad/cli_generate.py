"""`vad generate`: its parser and its handler, side by side."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from vad.errors import SpecError


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "generate",
        help="make a training set of LLM drawings (streaming, deduplicated, resumable)",
        description="Ask models to draw, render in the jail, keep what is neither blank nor a "
        "near-duplicate of what is already kept, until --n images are kept. The folder takes "
        "`vad train --data`; running the same command again resumes it (a larger --n goes on).",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="the training set's folder")
    p.add_argument("--n", type=int, required=True, help="images to keep")
    p.add_argument(
        "--model",
        action="append",
        metavar="M",
        help="provider/model or alias, repeatable (default: local/qwen2.5-coder-0.5b)",
    )
    p.add_argument("--api-base", metavar="URL", help="OpenAI-compatible endpoint (vLLM, ...)")
    p.add_argument("--lang", action="append", metavar="LANG", help="languages (default svg)")
    p.add_argument(
        "--strategy",
        default="vad",
        help="where captions come from: vad (the dataset's concepts, many seeds each), "
        "compose (two concepts: X-shaped Y, Y made of X, X next to Y in a place) or propose "
        "(the model lists visual things in categories; saved as proposed-concepts.jsonl) or "
        "vary (the model redraws its own kept programs of --from DIR from another view, in "
        "another style or colours); default vad",
    )
    p.add_argument(
        "--level", action="append", metavar="L", help="concept levels (default: all three)"
    )
    p.add_argument("--from", dest="source", metavar="DIR", help="vary: the set to vary")
    p.add_argument("--concepts", action="append", metavar="FILE", help="extra concept files")
    p.add_argument("--size", type=int, default=64, help="image size of the set (default 64)")
    p.add_argument("--temperature", type=float, default=1.0, help="default 1.0 (diversity)")
    p.add_argument("--max-tokens", type=int, default=1024, help="default 1024")
    p.add_argument("--seed", type=int, default=0, help="seed of the stream (default 0)")
    p.add_argument(
        "--dedupe-distance",
        type=int,
        default=4,
        help="pHash bits within which an image is a near-duplicate (default 4; -1: off)",
    )
    p.add_argument("--shard-size", type=int, default=1000, help="images per tar shard")
    p.add_argument(
        "--max-requests", type=int, help="stop after this many requests (default 20 x --n)"
    )
    p.add_argument("--max-connections", type=int, default=4, help="API requests in flight")
    p.add_argument("--slots", type=int, help="parallel slots of the embedded engine (default 8)")
    p.add_argument(
        "--shard",
        default="0/1",
        metavar="I/N",
        help="do the I-th of N deterministic parts of the work (0-based; each into its own "
        "--out, with its own --n), e.g. I=$SLURM_ARRAY_TASK_ID; join them with "
        "`vad dataset merge`",
    )
    p.add_argument(
        "--max-cost",
        type=float,
        metavar="USD",
        help="never spend more: each request sets aside the most it can cost (prompt "
        "characters as tokens plus --max-tokens, at litellm's prices) and the run stops "
        "cleanly before a request the budget cannot cover; running again with a larger "
        "budget goes on",
    )
    p.add_argument(
        "--estimate",
        action="store_true",
        help="make the first few drawings (kept in --out) and print the expected requests, "
        "tokens and cost of the whole --n",
    )
    p.add_argument(
        "--batch",
        action="store_true",
        help="send the requests through the OpenAI Batch API (half price): chunks of "
        "--batch-size are uploaded, submitted and polled; batch ids are kept in the folder, "
        "so a killed run picks its batches up again",
    )
    p.add_argument("--batch-size", type=int, default=1000, help="requests per batch")
    p.add_argument(
        "--batch-poll", type=float, default=30.0, metavar="S", help="seconds between polls"
    )
    p.add_argument("--cache", metavar="PATH", help="response store")
    p.add_argument("--wait", action="store_true", help="wait for another writer of --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-sandbox", action="store_true", help="unjailed renders (unsafe)")
    p.set_defaults(func=generate_cmd)


def _positive(flag: str, value: int | None, low: int = 1, high: int = 10**9) -> None:
    if value is not None and not low <= value <= high:
        raise SpecError(f"command line: {flag} = {value}: must be an integer between {low} "
                        f"and {high}")  # fmt: skip


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        raise SpecError(f"command line: --shard = {text!r}: must be I/N with 0 <= I < N, "
                        "e.g. 0/4")  # fmt: skip
    return int(index), int(count)


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v for item in values or [] for v in item.split(",") if v)


def generate_cmd(args: argparse.Namespace) -> int:
    from vad.generate.run import GenerateSpec, Generator

    for flag, value, low, high in (
        ("--n", args.n, 1, 10**9),
        ("--size", args.size, 8, 4096),
        ("--max-tokens", args.max_tokens, 1, 10**6),
        ("--shard-size", args.shard_size, 1, 10**7),
        ("--max-requests", args.max_requests, 1, 10**12),
        ("--max-connections", args.max_connections, 1, 4096),
        ("--slots", args.slots, 1, 256),
        ("--batch-size", args.batch_size, 1, 50_000),
        ("--dedupe-distance", args.dedupe_distance, -1, 32),
    ):
        _positive(flag, value, low, high)
    if not 0 <= args.temperature <= 2:
        raise SpecError(f"command line: --temperature = {args.temperature}: must be a number "
                        ">= 0 and <= 2")  # fmt: skip
    shard = _shard(args.shard)
    spec = GenerateSpec(
        shard=shard,
        source=str(Path(args.source).resolve()) if args.source else None,
        models=_split(args.model) or ("local/qwen2.5-coder-0.5b",),
        languages=_split(args.lang) or ("svg",), strategy=args.strategy,
        levels=_split(args.level) or ("shapes", "objects", "scenes"),
        concept_files=tuple(args.concepts or ()), n=args.n, size=args.size,
        temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed,
        api_base=args.api_base, dedupe_distance=args.dedupe_distance,
        shard_size=args.shard_size, max_connections=args.max_connections, slots=args.slots,
        max_requests=args.max_requests,
    )  # fmt: skip
    if args.max_cost is not None and not args.max_cost > 0:
        raise SpecError(f"command line: --max-cost = {args.max_cost}: must be a number > 0")
    if args.estimate:
        spec = dataclasses.replace(spec, max_requests=ESTIMATE_REQUESTS)
    gen = Generator(spec, args.out, args.cache, not args.no_progress, not args.no_sandbox,
                    args.wait, args.max_cost, args.estimate,
                    args.batch_size if args.batch else None, args.batch_poll)  # fmt: skip
    print(f"generate {gen.folder.path}: {spec.n} images of {len(gen.concepts)} concepts, "
          f"strategy {spec.strategy}", file=sys.stderr)  # fmt: skip
    try:
        summary = gen.run()
    except KeyboardInterrupt:
        print(f"\ninterrupted: run the same command again to resume {gen.folder.path}",
              file=sys.stderr)  # fmt: skip
        return 130
    print(format_summary(summary))
    if args.estimate:
        print(format_estimate(summary, args.n))
        return 0
    if summary["stopped_at_budget"]:
        print(f"error: stopped at the budget: ${summary['cost_usd']:.4f} of "
              f"${args.max_cost:.4f} spent, {summary['kept']} of {spec.n} images kept; run "
              "again with a larger --max-cost to go on", file=sys.stderr)  # fmt: skip
        return 1
    if summary["kept"] < spec.n:
        print(f"error: only {summary['kept']} of {spec.n} images kept", file=sys.stderr)
        return 1
    return 0


ESTIMATE_REQUESTS = 8


def format_estimate(summary: dict[str, Any], n: int) -> str:
    """The whole generation, extrapolated from the drawings made so far."""
    asked, kept = summary["requested"], summary["kept"]
    if not asked:
        return "estimate: no request was made (everything asked is in the store)"
    requests = asked / max(kept, 1) * n
    tokens = summary["completion_tokens"] / asked * requests
    cost = summary["cost_usd"] / asked * requests
    rough = "" if kept else " (none kept yet: a lower bound of the requests)"
    return (f"estimate for --n {n}: about {requests:,.0f} requests ({kept} of {asked} kept so "
            f"far{rough}), {tokens:,.0f} completion tokens, ${cost:,.2f}")  # fmt: skip


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"kept {summary['kept']} of {summary['requested']} drawings requested; "
        f"by status: {summary['by_status']}",
        f"diversity: {summary['distinct_programs']} distinct programs, "
        f"{summary['distinct_images']} distinct images (pHash)",
        f"tokens: {summary['completion_tokens']:,} completion; cost ${summary['cost_usd']:.4f}",
        "strategy  language  kept/requested",
    ]
    for row in summary["per_strategy_language"]:
        lines.append(f"{row['strategy']:<9} {row['language']:<9} {row['kept']}/{row['requested']}")
    return "\n".join(lines)
