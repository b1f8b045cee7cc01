"""`vad bench render|train|generate|programs|verifier|site`: benchmarks, each with its own options.

Each parser is defined beside its handler (``set_defaults(func=...)``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _split(values: list[str] | None) -> list[str]:
    return [v for item in values or [] for v in item.split(",") if v]


def _render(args: argparse.Namespace) -> int:
    from vad.bench import format_table, render_benchmark

    langs = tuple(_split(args.lang)) or None
    print(format_table(render_benchmark(args.n, langs, args.repeat, one_cpu=not args.all_cpus)))
    return 0


def _add_render(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = verbs.add_parser(
        "render",
        help="images/s of each language: raw, a warm worker, a warm jailed worker",
        description="Render the same corpus (reference drawings of shape concepts) raw, "
        "through one warm worker without the jail, and through one warm jailed worker.",
    )
    p.add_argument("--n", type=int, default=60, help="programs per language (default 60)")
    p.add_argument("--lang", action="append", help="languages (default all)")
    p.add_argument("--repeat", type=int, default=3, help="passes per mode; best kept (default 3)")
    p.add_argument("--all-cpus", action="store_true",
                   help="do not pin the measurement to one CPU (by default everything it "
                   "starts runs on one, so ratios compare work, not overlap)")  # fmt: skip
    p.set_defaults(func=_render)


def _programs(args: argparse.Namespace) -> int:
    from vad.bench_programs import check, format_programs, languages_of, summarize

    root = Path(args.corpus) if args.corpus else None
    langs = languages_of(_split(args.lang), root)
    rows = summarize(check(langs, root, say=lambda line: print(line, file=sys.stderr)))
    print(format_programs(rows))
    return 0 if all(r["met"] or r["toolchain"] is None for r in rows) else 1


def _add_programs(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = verbs.add_parser(
        "programs",
        help="real programs per language: vad's render rate against the language's own "
        "toolchain run as written",
        description="Draw each program of a corpus (tests/data/programs; for turtle, "
        "CPython's turtledemo) through vad's extraction and jailed renderer, and with the "
        "language's own toolchain as written (pdflatex, CPython + Agg, Chromium, CPython's "
        "turtle on Tk under Xvfb); exit 1 when vad renders less than 95 percent of what the "
        "toolchain renders. The toolchain side runs the programs OUTSIDE the jail, with "
        "your rights: give it only programs you trust.",
    )
    p.add_argument("--lang", action="append",
                   help="languages, repeated or comma-separated (default: tikz, "
                   "matplotlib, svg, turtle, p5, processing; with --corpus, those it has "
                   "folders for)")  # fmt: skip
    p.add_argument("--corpus", help="a folder holding a folder per language, of *.tex, *.py, "
                   "*.svg, *.js or *.pde files (default tests/data/programs)")  # fmt: skip
    p.set_defaults(func=_programs)


def _train(args: argparse.Namespace) -> int:
    from vad.train.bench import format_bench, train_benchmark

    sizes = [int(s) for s in args.sizes.split(",")]
    rows = train_benchmark(args.arch, sizes, args.batch_size, args.steps, args.device)
    print(format_bench(rows))
    return 0


def _add_train(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = verbs.add_parser(
        "train",
        help="images/s of each training stage (bare backbone, augmentation, full step)",
        description="Time the backbone alone, the augmentation and the whole training "
        "step, per image size, in one run.",
    )
    p.add_argument("--arch", default="resnet18", help="backbone (default resnet18)")
    p.add_argument("--sizes", default="32,64", help="image sizes (default 32,64)")
    p.add_argument("--batch-size", type=int, default=128, help="batch (default 128)")
    p.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.set_defaults(func=_train)


def _generate(args: argparse.Namespace) -> int:
    from vad.bench_generate import format_generate, generate_benchmark
    from vad.errors import SpecError

    parts = [s.strip() for s in args.slots.split(",") if s.strip()]
    if not parts or not all(p.isdigit() and 1 <= int(p) <= 256 for p in parts):
        raise SpecError(f"command line: --slots = {args.slots!r}: give slot counts from 1 to "
                        "256, comma-separated (e.g. 1,2,4,8)")  # fmt: skip
    slots = [int(p) for p in parts]
    langs = tuple(_split(args.lang)) or ("svg",)
    rows = generate_benchmark(
        args.model, slots, args.n, langs, args.max_tokens, samples=args.samples
    )
    print(format_generate(rows))
    return 0


def _add_generate(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = verbs.add_parser(
        "generate",
        help="drawings/hour of the embedded engine per slot count",
        description="Draw the same concepts with the embedded model under each slot count.",
    )
    p.add_argument("--model", default="local/qwen2.5-coder-0.5b", help="an embedded model")
    p.add_argument("--n", type=int, default=20, help="concepts (default 20)")
    p.add_argument("--lang", action="append", help="languages (default svg)")
    p.add_argument("--slots", default="1,2,4,8", help="slot counts to compare (default 1,2,4,8)")
    p.add_argument("--max-tokens", type=int, default=512, help="per drawing (default 512)")
    p.add_argument("--samples", type=int, default=2, help="drawings per concept (default 2)")
    p.set_defaults(func=_generate)


def _verifier(args: argparse.Namespace) -> int:
    from vad.bench_verifier import failures, format_report, meets, run_bench
    from vad.errors import SpecError

    if args.per_kind < 1:
        raise SpecError(f"command line: --per-kind = {args.per_kind}: give at least 1")
    if args.workers < 1:
        raise SpecError(f"command line: --workers = {args.workers}: give at least 1")
    langs = _split(args.lang) or None
    report = run_bench(args.per_kind, langs, args.seed, args.workers,
                       say=lambda line: print(line, file=sys.stderr))  # fmt: skip
    print(format_report(report))
    wrong = failures(report, args.show)
    if wrong:
        print(f"\nwrong (first {len(wrong)}):\n" + "\n".join(wrong), file=sys.stderr)
    if not meets(report):
        print("error: the verifier is below its bar (references 98%, every other kind 95%)",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _add_verifier(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = verbs.add_parser(
        "verifier",
        help="the shapes verifier on reference drawings and mutants in every language",
        description="Draw shape concepts in each language as they are and with one "
        "attribute changed (colour, count, shape, position, size, arrangement, relation) "
        "or a nuisance (outlines only, a coloured background, parts turned), render them "
        "in the jail, verify each PNG, and print how often the verifier was right (a "
        "reference or nuisance verifies; a mutant fails exactly what was changed) and its "
        "confusion table; exit 1 when references verify less than 98 percent of the time "
        "or any other kind is right less than 95 percent.",
    )
    p.add_argument(
        "--per-kind",
        type=int,
        default=10,
        help="concepts of each kind (position, size, group, pair; default 10)",
    )
    p.add_argument("--lang", action="append", help="languages (default all)")
    p.add_argument("--seed", type=int, default=0, help="which concepts and mutants (default 0)")
    p.add_argument("--workers", type=int, default=2, help="renders at once (default 2)")
    p.add_argument("--show", type=int, default=20, help="wrong verdicts to list (default 20)")
    p.set_defaults(func=_verifier)


def _site(args: argparse.Namespace) -> int:
    from vad.bench_site import bench_site, format_site
    from vad.errors import SpecError

    parts = _split([args.sizes])
    if not parts or not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        raise SpecError(f"command line: --sizes = {args.sizes!r}: give sample counts of at "
                        "least 1, comma-separated (e.g. 1000,10000,100000)")  # fmt: skip
    keep = Path(args.keep) if args.keep else None
    rows = bench_site([int(p) for p in parts], keep,
                      say=lambda line: print(line, file=sys.stderr))  # fmt: skip
    print(format_site(rows))
    return 0


def _add_site(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = verbs.add_parser(
        "site",
        help="build time and size of the leaderboard site at 1k, 10k and 100k samples",
        description="Make synthetic finished draw runs of each size (2 runs of 2 models, "
        "real-looking records and 224x224 PNGs), build the leaderboard site from them in a "
        "fresh process, and print its build seconds (and per phase), size, files, the size "
        "of its sample data, images and dataset, and the build's peak RSS.",
    )
    p.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="samples per site, comma-separated (default 1000,10000,100000)",
    )
    p.add_argument("--keep", help="keep each size's runs and site under DIR/n<size> "
                   "(default: a scratch folder, removed)", metavar="DIR")  # fmt: skip
    p.set_defaults(func=_site)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bench = sub.add_parser(
        "bench",
        help="benchmarks (render: sandboxed vs raw; train: images/s per stage; "
        "generate: drawings/hour of the embedded engine per slot count; programs: real "
        "programs against their own toolchains; verifier: the shapes verifier on "
        "references and mutants; site: the leaderboard site's build time and size)",
        description="Benchmarks; `vad bench WHAT --help` lists each one's options.",
    )
    verbs = bench.add_subparsers(dest="what", required=True, metavar="WHAT")
    for add in (_add_render, _add_programs, _add_train, _add_generate, _add_verifier, _add_site):
        add(verbs)
