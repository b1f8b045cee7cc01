"""`vad engine` (build and describe the embedded model engine) and `vad doctor`.

Each parser is defined beside its handler (``set_defaults(func=...)``).
"""

from __future__ import annotations

import argparse
import json


def _engine_build(args: argparse.Namespace) -> int:
    from vad.models.engine import build_engine

    engine = build_engine(jobs=args.jobs, force=args.force)
    print(engine.path)
    return 0


def _engine_info(args: argparse.Namespace) -> int:
    from vad.models.engine import build_path, cpu_flags, expected_variant, find_engine

    engine = find_engine()
    if engine is None:
        print(f"not built (would be {build_path()}): run `vad engine build`")
        return 1
    info = {
        **engine.info,
        "path": str(engine.path),
        "cpu_variants_built": engine.variants,
        "cpu_variant_for_this_cpu": expected_variant(cpu_flags()),
    }
    print(json.dumps(info, indent=2))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from vad.doctor import run_doctor

    return run_doctor(probes=args.probes)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    engine = sub.add_parser(
        "engine",
        help="the embedded model engine (llama.cpp's llama-server): build, info",
        description="Build or describe the llama.cpp server that serves the embedded models. "
        "It is built once from pinned sources, for every x86-64 CPU (CPU kernels chosen "
        "at start), and cached by version and flags.",
    )
    verbs = engine.add_subparsers(dest="verb", required=True, metavar="VERB")
    build = verbs.add_parser("build", help="build it now (about 15 minutes on 2 cores)")
    build.add_argument("--force", action="store_true", help="rebuild even if built")
    build.add_argument("--jobs", type=int, help="parallel compile jobs (default: all cores)")
    build.set_defaults(func=_engine_build)
    info = verbs.add_parser("info", help="where it is, its flags and CPU variants")
    info.set_defaults(func=_engine_info)

    doctor = sub.add_parser(
        "doctor",
        help="check this machine: packages, jail, TeX, engine, embedded models, CLIP",
        description="Check everything vad needs; one line per check (ok, warning, error) "
        "with the fix. Exits 1 if any check is an error.",
    )
    doctor.add_argument(
        "--probes",
        action="store_true",
        help="also run every language's containment probes through the jail (a read of a "
        "host file, a write, a request to a loopback server, an endless loop, a fork bomb): "
        "about a minute",
    )
    doctor.set_defaults(func=_doctor)
