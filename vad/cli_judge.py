"""`vad judge`: its parser and its handler, side by side."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vad.stopping import interrupted_exit_code

EXIT_SOME_FAILED = 3  # some judgements could not be made (a re-run asks again)
EXIT_LIMIT = 4  # stopped at --max-cost: a re-run with a larger one goes on


def add_parsers(sub: Any) -> None:
    from vad.cli_generate import add_retry_options

    p = sub.add_parser(
        "judge",
        help="vision models judge the drawings of runs (recognition, fidelity, pairwise)",
        description="Ask vision models about the rendered drawings of runs: which caption "
        "a drawing shows (among --choices), how faithful it is (1-10), and which of two "
        "models' drawings of one concept is better (both orders). One line per judgement "
        "goes to <run>/judgements.jsonl; replies are kept in the response store, so running "
        "the same command again asks nothing twice and goes on where it stopped.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder names, prefixes or paths")
    p.add_argument(
        "--judge",
        action="append",
        required=True,
        metavar="MODEL",
        help="a vision model (provider/model or alias), repeatable",
    )
    p.add_argument(
        "--api-base",
        metavar="URL",
        help="OpenAI-compatible endpoint of the judges (llama.cpp, vLLM, ...)",
    )
    p.add_argument(
        "--kinds",
        default="recognition,fidelity,pairwise",
        metavar="K,...",
        help="which judgements: recognition, fidelity, pairwise (default all)",
    )
    p.add_argument(
        "--choices",
        type=int,
        default=5,
        metavar="K",
        help="captions a recognition question offers (default 5)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the distractor captions and their order (default 0)",
    )
    p.add_argument("--temperature", type=float, default=0.0, help="default 0")
    p.add_argument(
        "--max-tokens",
        type=int,
        default=96,
        metavar="N",
        help="of each reply (default 96: a letter, or a score and a reason)",
    )
    p.add_argument(
        "--max-cost",
        type=float,
        metavar="USD",
        help="the most this invocation may spend on new requests (replies in the "
        "store are free); it stops before passing it, and a re-run goes on",
    )
    p.add_argument(
        "--judge-sees-images",
        action="store_true",
        help="assert the judges take images where neither their server nor "
        "litellm's model map can tell",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=4,
        metavar="N",
        help="requests in flight to each judge (default 4)",
    )
    p.add_argument(
        "--batch",
        action="store_true",
        help="send the requests through the judge provider's batch API (OpenAI Batch API "
        "or a server speaking it, Anthropic Message Batches: half price); batch ids are "
        "logged beside the response store, so a killed run collects its batches",
    )
    p.add_argument("--batch-size", type=int, default=1000, metavar="N", help="requests per batch")
    p.add_argument(
        "--batch-poll", type=float, default=30.0, metavar="S", help="seconds between polls"
    )
    p.add_argument("--cache", metavar="PATH", help="response store")
    p.add_argument("--runs-dir", metavar="DIR")
    p.add_argument(
        "--wait",
        action="store_true",
        help="if another process is writing a run folder, wait for it",
    )
    add_retry_options(p)
    p.set_defaults(func=judge_cmd)


def judge_cmd(args: argparse.Namespace) -> int:
    from vad.judge.run import JudgeSettings, Judging
    from vad.models.client import RetryPolicy
    from vad.models.litellm_setup import preload_litellm
    from vad.spec import retry_from_flags

    preload_litellm()

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    settings = JudgeSettings(
        runs=tuple(args.runs),
        judges=tuple(args.judge),
        kinds=kinds,
        api_base=args.api_base,
        choices=args.choices,
        seed=args.seed,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        max_cost=args.max_cost,
        sees_images=args.judge_sees_images,
        cache=args.cache,
        runs_dir=args.runs_dir,
        connections=args.max_connections,
        wait=args.wait,
        batch=args.batch,
        batch_size=args.batch_size,
        batch_poll=args.batch_poll,
        retry=RetryPolicy(**retry_from_flags(args.timeout, args.max_retries)),
    )
    judging = Judging(settings, say)
    try:
        summary = judging.run()
    except KeyboardInterrupt:
        say("\ninterrupted: run the same command again to go on (replies that arrived are kept)")
        return interrupted_exit_code()
    for warning in summary.warnings:
        say(f"warning: {warning}")
    print(summary.line())
    if summary.stopped_at_budget:
        say(
            f"stopped at the budget: ${summary.spent_usd:.6g} of ${args.max_cost:.6g} spent, "
            f"{summary.skipped_budget} judgement(s) not made; run again with a larger "
            "--max-cost to go on"
        )
        return EXIT_LIMIT
    if summary.failed:
        say(
            f"error: {summary.failed} judgement(s) failed (the lines above say how); run the "
            "same command again to ask them again"
        )
        return EXIT_SOME_FAILED
    return 0
