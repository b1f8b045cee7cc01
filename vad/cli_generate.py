"""`vad generate`: its parser and its handler, side by side."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from vad.errors import SpecError
from vad.stopping import interrupted_exit_code


def add_parsers(sub: Any, full: bool = True) -> None:
    """``vad generate``; without ``full``, its name and help only (for other commands)."""
    p = sub.add_parser(
        "generate",
        help="make a training set of LLM drawings (streaming, deduplicated, resumable)",
        description="Ask models to draw, render in the jail, keep what is neither blank nor a "
        "near-duplicate of what is already kept, until --n images are kept. The folder takes "
        "`vad train --data`; running the same command again resumes it (a larger --n goes on).",
    )
    if not full:
        return
    from vad.generate.spec import GenerateSpec

    p.add_argument(
        "spec",
        nargs="?",
        help="a generation spec (YAML: out, n, models, languages, strategy, levels, ...: "
        "`vad schema generate` lists every field and its flag); flags given override it",
    )
    GenerateSpec.add_flags(p)
    add_retry_options(p)
    p.add_argument(
        "--estimate",
        action="store_true",
        help="make the first few drawings (kept in --out) and print the expected requests, "
        "tokens and cost of the whole --n",
    )
    p.add_argument("--cache", metavar="PATH", help="response store")
    p.add_argument("--wait", action="store_true", help="wait for another writer of --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-sandbox", action="store_true", help="unjailed renders (unsafe)")
    p.set_defaults(func=generate_cmd)


def add_retry_options(p: argparse.ArgumentParser) -> None:
    """``--timeout`` and ``--max-retries``: the keys of a spec's ``retry:`` (the flag wins)."""
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="seconds a request may take in all, connecting and the whole reply included "
        "(default 300; spec: retry: {timeout: S})",
    )
    p.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help="tries after the first for errors that pass (429, 503, timeouts, a lost "
        "connection), with exponential backoff (default 6; spec: retry: {max_retries: N})",
    )


def settings(args: argparse.Namespace) -> Any:
    """The spec file's settings, then the flags given; every value checked."""
    from vad.generate.spec import GenerateSpec, load_settings
    from vad.spec import retry_from_flags

    data = load_settings(args.spec) if args.spec else {}
    data.update(GenerateSpec.from_flags(args))
    retry = retry_from_flags(args.timeout, args.max_retries)
    if retry:
        data["retry"] = {**data.get("retry", {}), **retry}
    for key, flag in (("out", "--out"), ("n", "--n")):
        if data.get(key) is None:
            raise SpecError(f"command line: {flag} is missing: give it (or '{key}:' in a spec)")
    return GenerateSpec(**data)


def generate_cmd(args: argparse.Namespace) -> int:
    from vad.generate.run import Generator
    from vad.models.litellm_setup import preload_litellm

    spec = settings(args)
    preload_litellm()  # every generation calls a model: overlap the slow import with startup
    if args.estimate:
        spec = spec.model_copy(update={"max_requests": ESTIMATE_REQUESTS})
    max_cost = spec.max_cost
    gen = Generator(spec, args.cache, not args.no_progress, not args.no_sandbox, args.wait,
                    args.estimate)  # fmt: skip
    print(f"generate {gen.folder.path}: {spec.n} images, strategy {spec.strategy}",
          file=sys.stderr)  # fmt: skip
    try:
        summary = gen.run()
    except KeyboardInterrupt:
        print(f"\ninterrupted: run the same command again to resume {gen.folder.path}",
              file=sys.stderr, flush=True)  # fmt: skip
        if gen.abandoned:  # requests still in flight: do not wait for their threads
            sys.stdout.flush()
            os._exit(interrupted_exit_code())
        return interrupted_exit_code()
    print(format_summary(summary))
    if args.estimate:
        asked = summary["requested"]
        if asked and summary["by_status"].get("model_error") == asked:
            print(f"error: every one of the {asked} requests failed (the lines above say "
                  "how): nothing to estimate from; check the server", file=sys.stderr)  # fmt: skip
            return 1
        print(format_estimate(summary, spec.n))
        return 0
    if summary["stopped_at_budget"]:
        print(f"stopped at the budget: ${summary['spent_usd']:.6g} of "
              f"${max_cost:.6g} spent, {summary['kept']} of {spec.n} images kept; run "
              "again with a larger --max-cost to go on", file=sys.stderr)  # fmt: skip
        return EXIT_LIMIT
    if summary["kept"] < spec.n:
        limit = spec.max_requests or 20 * spec.n
        if summary["kept"] and summary.get("stopped_at_requests"):
            print(f"stopped at the request limit: {summary['kept']} of {spec.n} images kept "
                  f"after {summary['requested']} requests (--max-requests {limit}; not kept: "
                  f"{summary['rejections']}); run again with a larger --max-requests to go "
                  "on", file=sys.stderr)  # fmt: skip
            return EXIT_LIMIT
        if summary["kept"]:  # the stream ran out of items to draw
            print(f"error: only {summary['kept']} of {spec.n} images kept (not kept: "
                  f"{summary['rejections']})", file=sys.stderr)  # fmt: skip
            return 1
        failed = summary["by_status"].get("model_error", 0)
        why = ("every request failed (the lines above say how): check the server, or raise "
               "--timeout" if failed == summary["requested"] else "the drawings are rejected "
               "too often; change the model, or raise --max-requests")  # fmt: skip
        print(f"error: none of {summary['requested']} drawings could be kept (not kept: "
              f"{summary['rejections']}): {why}", file=sys.stderr)  # fmt: skip
        return 1
    if summary["kept"] > spec.n:  # an earlier run had a larger --n: nothing is removed
        print(f"note: the set holds {summary['kept']} images, more than --n {spec.n}, "
              "made by an earlier run with a larger --n", file=sys.stderr)  # fmt: skip
    return 0


ESTIMATE_REQUESTS = 8
EXIT_LIMIT = 4  # stopped at a limit the user set: a re-run with a larger one goes on


def format_estimate(summary: dict[str, Any], n: int) -> str:
    """The whole generation, extrapolated from the drawings made so far."""
    asked, kept = summary["requested"], summary["kept"]
    if not asked:
        return "estimate: no request was made (everything asked is in the store)"
    requests = asked / max(kept, 1) * n
    tokens = summary["completion_tokens"] / asked * requests
    cost = summary["cost_usd"] / asked * requests
    rough = "" if kept else "; none kept yet: a lower bound of the requests"
    price = _price(summary, f"${cost:,.2f}")
    return (f"estimate for --n {n}: about {requests:,.0f} requests ({kept} of {asked} kept so "
            f"far{rough}), {tokens:,.0f} completion tokens, {price}")  # fmt: skip


def _price(summary: dict[str, Any], known: str) -> str:
    """A cost, or what is unknown of it (a price the price map does not have is not $0)."""
    unpriced = summary.get("unpriced_replies", 0)
    if not unpriced:
        return known
    if unpriced >= summary["requested"]:
        return "cost unknown (no price for this model in litellm's price map)"
    return f"at least {known} (the price of {unpriced} replies is unknown)"


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"kept {summary['kept']} of {summary['requested']} drawings requested; "
        f"by status: {summary['by_status']}",
        f"diversity: {summary['distinct_programs']} distinct programs, "
        f"{summary['distinct_images']} distinct images (pHash)",
        f"tokens: {summary['completion_tokens']:,} completion; "
        f"{_price(summary, 'cost $' + format(summary['cost_usd'], '.4f'))}",
        "strategy  language  kept/requested",
    ]
    if summary.get("judged"):
        lines.insert(3, f"judge: {summary['judged']} drawings rated, cost "
                        f"${summary['judge_cost_usd']:.4f} (${summary['spent_usd']:.4f} "
                        "spent in all)")  # fmt: skip
    for row in summary["per_strategy_language"]:
        lines.append(f"{row['strategy']:<9} {row['language']:<9} {row['kept']}/{row['requested']}")
    return "\n".join(lines)
