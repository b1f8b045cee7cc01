"""The `vad` command: thin subcommands that parse, call one function and print.

Each subcommand's parser is defined beside its handler (``set_defaults(func=...)``);
``main`` calls ``args.func(args)``. The other commands live in cli_engine, cli_generate,
cli_train, cli_bench and cli_judge.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from vad import __version__
from vad.errors import VadError
from vad.stopping import interrupted_exit_code, stop_on_sigterm


class _Renamed(argparse.Action):
    """A flag that took another name (one meaning per flag name across commands): it
    still works, and says its new name once."""

    def __init__(self, *args: Any, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(*args, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        print(f"note: {option} is now {self.new} here (--size is the training images' side "
              "in `vad generate` and `vad dataset export`)", file=sys.stderr)  # fmt: skip
        setattr(namespace, self.dest, values)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    from vad.models.seam import CONNECTIONS_HELP, SLOTS_HELP, THREADS_HELP

    p.add_argument(
        "--runs-dir",
        metavar="DIR",
        help="where run folders go (default: $VAD_RUNS_DIR or ./runs/out)",
    )
    p.add_argument(
        "--run-name",
        metavar="NAME",
        help="run folder name (default: <name>-<spec hash>; the same spec resumes)",
    )
    p.add_argument(
        "--cache", metavar="PATH", help="response store (default: $VAD_CACHE_DIR/responses.sqlite)"
    )
    p.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help=CONNECTIONS_HELP + " (overrides the spec's rate_limits caps)",
    )
    p.add_argument("--slots", type=int, metavar="N", help=SLOTS_HELP)
    p.add_argument("--engine-threads", type=int, metavar="N", help=THREADS_HELP)
    p.add_argument(
        "--wait",
        action="store_true",
        help="if another process is writing the same run folder, wait for it "
        "(default: stop with an error naming it)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=10.0,
        metavar="S",
        help="after a first Ctrl-C, keep replies that arrive within S seconds "
        "(default 10; a second Ctrl-C quits at once)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run model-written code without the bubblewrap jail (unsafe: trusted code only)",
    )
    from vad.cli_generate import add_retry_options

    add_retry_options(p)


class _Parser(argparse.ArgumentParser):
    """A bad flag is one line, in the form of the range errors, with where to look
    (argparse would print the whole usage first). Subcommands' parsers are of this class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: command line: {message} (see `{self.prog} --help`)\n")

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:
        """As argparse's, but a flag no parser knows is refused by the command's own
        parser (`vad draw --bogus` points at `vad draw --help`, not `vad --help`)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self._command(parsed).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _command(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The deepest parser of the command ``parsed`` names."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
                if isinstance(chosen, _Parser):
                    return chosen._command(parsed)
        return self


def _build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Every command's parser; with ``argv``, the flags of commands whose settings are a
    pydantic declaration only for the command ``argv`` names (they cost time to build)."""
    parser = _Parser(
        prog="vad",
        description="A vision checkup for text-only language models.",
        epilog="exit codes: 0 done; 1 a run in which no sample could be scored; 2 an error "
        "(bad spec or flag, missing key, damaged state: the message names the fix); 3 a run "
        "in which some samples could not be scored (a re-run redoes them); 4 stopped at a "
        "limit you set (--max-cost, --max-requests): what was made is kept and a re-run with "
        "a larger limit goes on; 70 an internal error (a bug: VAD_DEBUG=1 shows the "
        "traceback); 130 interrupted (Ctrl-C), 143 stopped by SIGTERM (both stop new "
        "requests and keep what arrived); 141 the reader of the output went away (| head)",
    )
    parser.add_argument("--version", action="version", version=f"vad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_draw, _add_run, _add_listings, _add_leaderboard):
        add(sub)

    from vad import cli_arena, cli_bench, cli_engine, cli_generate, cli_judge, cli_train

    command = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    cli_generate.add_parsers(sub, full=argv is None or command == "generate")
    cli_train.add_parsers(sub)
    cli_engine.add_parsers(sub)
    cli_bench.add_parsers(sub)
    cli_judge.add_parsers(sub)
    cli_arena.add_parsers(sub)
    return parser


def _draw(args: argparse.Namespace) -> int:
    return _run(_spec_from_draw(args), args)


def _add_draw(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from vad.spec import RunSpec

    d = RunSpec()  # the defaults are the run spec's: flags not given take them there
    draw = sub.add_parser(
        "draw",
        help="ask models to draw concepts in code, render and record",
        description="Ask models to draw concepts in code; render and record.",
    )
    draw.add_argument(
        "--model",
        action="append",
        metavar="M",
        help="provider/model or alias, repeatable "
        "(default: local/qwen2.5-coder-0.5b, the embedded model)",
    )
    from vad.languages import language_names

    languages = f"{', '.join(language_names())}; repeatable or comma-separated"
    # --name, --level, --lang, --samples, --limit, --seed, ...: declared by the run spec
    RunSpec.add_flags(draw, helps={"languages": languages})
    draw.add_argument(
        "--style",
        choices=("auto", "chat", "completion"),
        default="auto",
        help="prompt style (default: the model's own)",
    )
    draw.add_argument(
        "--api-base",
        metavar="URL",
        help="OpenAI-compatible endpoint for the models (vLLM, Ollama, ...)",
    )
    draw.add_argument("--render-size", type=int, dest="size", metavar="PX",
                      help=f"side of each rendering in px (default {d.width})")  # fmt: skip
    draw.add_argument("--size", type=int, dest="old_size", action=_Renamed, new="--render-size",
                      help=argparse.SUPPRESS)  # fmt: skip
    draw.add_argument("--rpm", type=float, help="requests per minute per provider")
    _add_run_options(draw)

    draw.set_defaults(func=_draw)


def _run_file(args: argparse.Namespace) -> int:
    from vad.spec import load_spec

    return _run(load_spec(args.spec), args)


def _add_run(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run = sub.add_parser(
        "run",
        help="run a spec file (runs/<name>.yaml)",
        description="Run a spec file; re-running resumes it.",
    )
    run.add_argument("spec", help="path to a run spec YAML")
    _add_run_options(run)

    run.set_defaults(func=_run_file)


def _add_listings(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`vad runs`, `vad show`, `vad concepts`, `vad models`: each a call into vad.commands."""
    from vad import commands

    runs = sub.add_parser("runs", help="list runs")
    runs.add_argument("--runs-dir", metavar="DIR")
    runs.set_defaults(func=lambda args: commands.list_runs_cmd(args.runs_dir))

    show = sub.add_parser("show", help="summary of one run")
    show.add_argument("run", help="run folder name, prefix or path")
    show.add_argument("--runs-dir", metavar="DIR")
    show.set_defaults(func=lambda args: commands.show_cmd(args.run, args.runs_dir))

    concepts = sub.add_parser(
        "concepts", help="list concepts of the dataset",
        description="List the Visual Aptitude Dataset's concepts (level, id, caption), with "
        "those of extra concept files: what a run with the same --level, --limit and "
        "--concepts would draw.",
    )  # fmt: skip
    concepts.add_argument(
        "--level",
        action="append",
        metavar="L",
        help="shapes, objects or scenes (repeatable; default all)",
    )
    concepts.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="at most N concepts per level (the seeded sample a run takes)",
    )
    concepts.add_argument(
        "--concepts",
        action="append",
        metavar="FILE",
        help="extra concepts from a .csv/.jsonl file (id, level, caption)",
    )
    concepts.set_defaults(
        func=lambda args: commands.concepts_cmd(args.level, args.limit, args.concepts)
    )

    models = sub.add_parser("models", help="list embedded models and aliases")
    models.set_defaults(func=lambda args: commands.models_cmd())

    schema = sub.add_parser(
        "schema",
        help="the JSON Schema of a spec file (for editors to complete and check it)",
        description="Print the JSON Schema of a spec file's settings, from the same "
        "declaration the flags come from: point an editor's YAML support at it "
        "(# yaml-language-server: $schema=generate.schema.json).",
    )
    schema.add_argument("kind", choices=["run", "generate"],
                        help="which spec: run (runs/*.yaml, `vad run`) or generate "
                        "(`vad generate SPEC`)")  # fmt: skip
    schema.set_defaults(func=_schema)


def _schema(args: argparse.Namespace) -> int:
    import json

    from vad.generate.spec import GenerateSpec
    from vad.spec import RunSpec

    declared = {"run": RunSpec, "generate": GenerateSpec}[args.kind]
    print(json.dumps(declared.schema(), indent=2))
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from vad._paths import runs_dir
    from vad.leaderboard import build_leaderboard
    from vad.scoring.clip import clip_scorer
    from vad.tasks import task_classes

    def warn(line: str) -> None:
        print(f"warning: {line}", file=sys.stderr)

    clip = clip_scorer(args.clip_model, args.clip_weights, args.clip_pretrained)
    asked = (args.clip_model, args.clip_weights, args.clip_pretrained,
             os.environ.get("VAD_CLIP_WEIGHTS"), os.environ.get("VAD_CLIP_PRETRAINED"))  # fmt: skip
    if isinstance(clip, str) and any(asked):  # asked for and not there: say so at once
        warn(clip)
    out = args.out or runs_dir(args.runs_dir) / "leaderboard"

    site = build_leaderboard(args.runs, out, args.runs_dir, clip=clip, warn=warn,
                             votes=args.votes)  # fmt: skip
    print(f"leaderboard: {site.resolve() / 'index.html'}")
    names = [f"{t.name}.csv" for t in task_classes() if t.table] + ["leaderboard.md"]
    print("tables:", ", ".join(str(site / n) for n in names))
    return 0


def _add_leaderboard(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    board = sub.add_parser(
        "leaderboard",
        help="build the leaderboard site from runs",
        description="Build a static HTML site, CSV and Markdown from run outputs only.",
    )
    board.add_argument("runs", nargs="+", help="run folder names, prefixes or paths")
    board.add_argument("--out", help="site folder (default: <runs dir>/leaderboard)")
    board.add_argument("--runs-dir", metavar="DIR")
    board.add_argument(
        "--clip-model", help="open_clip model name (default $VAD_CLIP_MODEL or ViT-B-32)"
    )
    board.add_argument(
        "--clip-weights", metavar="FILE", help="CLIP checkpoint file (default $VAD_CLIP_WEIGHTS)"
    )
    board.add_argument(
        "--clip-pretrained",
        metavar="TAG",
        help="open_clip pretrained tag, e.g. laion2b_s34b_b79k with ViT-B-32 (about 605 MB): "
        "fetched once with a network, then read from open_clip's cache; only a tag named "
        "here or in $VAD_CLIP_PRETRAINED is ever fetched",
    )
    board.add_argument(
        "--votes",
        action="append",
        metavar="FILE",
        help="people's votes (`vad arena --export-votes FILE`), repeatable: their "
        "Bradley-Terry ratings go beside the judges', with their rank agreement",
    )
    board.set_defaults(func=_leaderboard)


def _spec_from_draw(args: argparse.Namespace) -> Any:
    from vad.errors import SpecError
    from vad.spec import RunSpec, spec_from_dict

    def split(values: list[str] | None) -> list[str] | None:
        return (
            [v.strip() for item in values for v in item.split(",") if v.strip()] if values else None
        )

    if args.model is not None and not split(args.model):
        raise SpecError("command line: --model is empty: give a model (provider/model or an "
                        "alias; `vad models` lists them)")  # fmt: skip
    models = split(args.model) or [m.name for m in RunSpec().models]
    data: dict[str, Any] = {
        **RunSpec.from_flags(args),  # the flags declared by the spec, checked as flags
        "models": [{"name": m, "api_base": args.api_base, "style": args.style} for m in models],
        "width": args.size, "height": args.size,
    }  # fmt: skip
    old = getattr(args, "old_size", None)
    if old is not None and args.size is not None and old != args.size:
        raise SpecError(f"command line: --size {old} and --render-size {args.size}: give "
                        "--render-size only")  # fmt: skip
    if old is not None:
        data["width"] = data["height"] = old
    data = {k: v for k, v in data.items() if v is not None}  # the rest: the spec's defaults
    if args.rpm is not None:
        from vad.models.registry import resolve_model

        providers = {resolve_model(m, args.api_base).provider for m in models}
        data["rate_limits"] = {provider: {"rpm": args.rpm} for provider in sorted(providers)}
    return spec_from_dict(data, "command line")


def _run(spec: Any, args: argparse.Namespace) -> int:
    from vad.models.litellm_setup import preload_litellm

    preload_litellm()  # a run calls models: the slow import overlaps the run's startup
    from vad.commands import failure_report, print_summary
    from vad.errors import SpecError
    from vad.runner import Runner
    from vad.spec import retry_from_flags

    overrides: dict[str, Any] = {}
    limits = {provider: dict(v) for provider, v in spec.rate_limits.items()}
    if args.max_connections is not None:  # the flag wins over the spec's per-provider caps
        overrides["max_connections"] = args.max_connections
        for entry in limits.values():
            entry.pop("max_connections", None)
        overrides["rate_limits"] = {p: v for p, v in limits.items() if v}
    if args.slots is not None:
        overrides["slots"] = args.slots
    if overrides:  # the flags go through the same checks as the spec's fields
        from vad.spec import spec_from_dict

        data = {k: v for k, v in {**spec.to_dict(), **overrides}.items() if v not in ((), None)}
        spec = spec_from_dict(data, "command line")
    if args.no_sandbox:
        spec = spec.replace(sandbox=False)
    if retry := retry_from_flags(args.timeout, args.max_retries):  # not in the spec's hash
        spec = spec.replace(retry={**spec.retry, **retry})
    if not 0 <= args.grace <= 600:
        raise SpecError(f"command line: --grace = {args.grace:g}: must be a number >= 0 and <= 600")
    if args.engine_threads is not None and not 1 <= args.engine_threads <= 1024:
        raise SpecError(f"command line: --engine-threads = {args.engine_threads}: must be an "
                        "integer between 1 and 1024")  # fmt: skip
    runner = Runner(spec, args.runs_dir, args.run_name, args.cache, not args.no_progress,
                    wait=args.wait, grace=args.grace,
                    engine_threads=args.engine_threads)  # fmt: skip
    samples = sum(len(job.sample_ids) for job in runner.jobs)
    print(f"run {runner.folder.path}: {samples} samples ({len(runner.concepts)} concepts)",
          file=sys.stderr)  # fmt: skip

    def report(stats: Any) -> int:  # runs while the run's lock is still held
        print(
            f"model calls: {stats.model_calls}, cache hits: {stats.cache_hits}, "
            f"already done: {stats.skipped}",
            file=sys.stderr,
        )
        print_summary(runner.folder)
        return failure_report(runner.folder)

    try:
        runner.run(report)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: run the same command again to resume {runner.folder.path} "
            "(replies that arrived are kept)",
            file=sys.stderr,
            flush=True,
        )
        if runner.abandoned:  # requests still in flight: do not wait for their threads
            sys.stdout.flush()
            os._exit(interrupted_exit_code())
        return interrupted_exit_code()
    return runner.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # the reader went away (`vad runs | head -1`): nothing to say
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())
        return EXIT_PIPE


def _main(argv: Sequence[str] | None) -> int:
    try:
        # it lists the languages: a broken plugin stops it
        parser = _build_parser(sys.argv[1:] if argv is None else argv)
    except VadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    stop_on_sigterm()
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe is found here, not at exit
        return code
    except KeyboardInterrupt:  # outside a run's own handling (starting, describing)
        print("\ninterrupted", file=sys.stderr)
        return interrupted_exit_code()
    except VadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # (main says nothing)
    except OSError as exc:  # the disk, not vad: one line with the file and the fix
        if exc.errno is None:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        fix = ("Free some space or make it writable (or choose another --runs-dir / --cache); "
               "then run the same command again: nothing written before is lost"
               if exc.errno in _DISK_ERRORS else "Check the path")  # fmt: skip
        print(f"error: cannot use{where}: {exc.strerror}. {fix}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line, its own exit code; VAD_DEBUG=1 shows where
        if os.environ.get("VAD_DEBUG"):
            raise
        text = str(exc).splitlines()[0][:300] if str(exc) else ""
        print(f"error: internal error: {type(exc).__name__}: {text} (a bug in vad: run again "
              "with VAD_DEBUG=1 for the traceback and report it)", file=sys.stderr)  # fmt: skip
        return EXIT_INTERNAL


EXIT_INTERNAL = 70
EXIT_PIPE = 141  # as a command killed by SIGPIPE


_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


if __name__ == "__main__":
    sys.exit(main())
