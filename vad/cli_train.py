"""`vad dataset`, `vad train`, `vad eval` and `vad pretrain-report`: from drawings to a
vision model. Parsers and thin handlers; the work is in vad.dataset and vad.train.

Each parser is defined beside its handler (``set_defaults(func=...)``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from vad.train.config import REPORT_FIELDS, TrainConfig, report_training

_HELP = {
    "method": "simclr (NT-Xent) or moco (MoCo v2: queue + momentum encoder)",
    "arch": "resnet18, resnet34, resnet50, vit_tiny, vit_small (patch 4 up to 64 px)",
    "stem": "ResNet stem: auto (cifar on a GPU at <= 64 px, else imagenet), cifar, imagenet",
    "batch_size": "global batch over every process",
    "lr": "SGD learning rate per 256 images",
    "per_class": "at most N images per class of the training folder",
    "max_images": "then at most N images in all (a seeded subset)",
    "session_minutes": "stop (checkpointed) after N minutes; run again to continue",
    "session_steps": "stop (checkpointed) after N steps; run again to continue",
    "device": "auto, cpu or cuda",
    "backgrounds": "share of images whose flat background becomes a dead-leaves texture",
    "mixup": "share of images blended with another image of the set (weight 0.3-0.7)",
    "save_every": "also checkpoint every N steps",
    "epochs": "passes over the training set",
    "seed": "seed of the data order, the augmentations and the weights",
    "eval_every": "a kNN point (of the report's curves) every N epochs",
    "image_size": "side of the training images in px",
    "weight_decay": "SGD weight decay",
    "momentum": "SGD momentum",
    "warmup_epochs": "epochs of linear warm-up (at most 10%% of the steps), then cosine decay",
    "temperature": "softmax temperature of the contrastive loss",
    "proj_hidden": "width of the projection head's hidden layer",
    "proj_dim": "dimension of the projection the loss compares",
    "queue_size": "MoCo: negatives kept in the queue (65536 in the paper, for ImageNet)",
    "moco_momentum": "MoCo: momentum of the key encoder",
    "blur": "probability of a Gaussian blur; -1: 0.5 at >= 64 px, else 0 (as for CIFAR)",
    "bf16": "bfloat16 autocast on CUDA",
    "channels_last": "channels-last memory layout on CUDA",
    "num_threads": "CPU threads for torch (0: the cores, shared among local processes)",
}


def _int_range(text: str) -> tuple[int, int]:
    """``MIN,MAX`` (or one number) as a pair of non-negative ints."""
    low, _, high = text.partition(",")
    try:
        pair = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN,MAX (two integers)") from None
    if not 0 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= MIN <= MAX")
    return pair


def _add_export_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="export folder (new, or --overwrite)")
    p.add_argument("--size", type=int, default=64, help="square side in px (default 64)")
    p.add_argument(
        "--dedupe-distance",
        "--dedupe",
        dest="dedupe",
        type=int,
        default=4,
        metavar="BITS",
        help="pHash bits within which an image is a near-duplicate of one kept (default 4; "
        "-1: off), as in `vad generate`",
    )
    p.add_argument("--shard-size", type=int, default=1000, help="images per tar shard")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier export (it stays until the new one is whole)",
    )
    p.add_argument("--no-progress", action="store_true")


def _add_train_options(
    p: argparse.ArgumentParser,
    only: tuple[str, ...] | None = None,
    defaults: TrainConfig | None = None,
) -> None:
    """A flag for each TrainConfig field (or for those ``only`` names), with its type,
    help and default from the one declaration (``defaults``: a command's own values)."""
    defaults = defaults or TrainConfig()
    for f in fields(TrainConfig):
        skipped = f.name in ("data", "out", "progress", "eval_every")
        if (only is None and skipped) or (only is not None and f.name not in only):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                           help=f"{_HELP.get(f.name, '')} (default {default})".strip())  # fmt: skip
        else:
            kind = int if default is None else type(default)  # the optional caps are ints
            p.add_argument(
                flag,
                type=kind,
                default=default,
                metavar={int: "N", float: "X", str: "NAME"}.get(kind, "VALUE"),
                help=f"{_HELP.get(f.name, '')} (default {default})".strip(),
            )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    for add in (_add_dataset, _add_train, _add_eval, _add_report):
        add(sub)


def _export(args: argparse.Namespace) -> int:
    from vad._paths import runs_dir
    from vad.dataset.export import ExportOptions, export, run_candidates
    from vad.errors import SpecError
    from vad.fsutil import recover_folder
    from vad.rundir import find_run

    for flag, value, low, high in (("--size", args.size, 8, 4096),
                                   ("--dedupe-distance", args.dedupe, -1, 32),
                                   ("--shard-size", args.shard_size, 1, 10**7)):  # fmt: skip
        if not low <= value <= high:
            raise SpecError(f"command line: {flag} = {value}: must be an integer between "
                            f"{low} and {high} (as in `vad generate`)")  # fmt: skip
    opts = ExportOptions(
        size=args.size,
        dedupe_distance=args.dedupe,
        shard_size=args.shard_size,
        overwrite=args.overwrite,
        allow_missing=getattr(args, "allow_missing", False),
    )
    out = Path(args.out)
    recover_folder(out)  # an earlier write of --out that was killed: its old set put back
    if args.dataset_command == "export":
        from vad.fsutil import check_out

        folders = [find_run(runs_dir(args.runs_dir), name).path for name in args.runs]
        check_out(out, folders, "a run to export")  # before anything is read
        # a list, not a generator: the export checks for missing images before any work
        candidates = [c for folder in folders for c in run_candidates(folder, args.label)]
        record = export(candidates, out, opts, [str(f) for f in folders], not args.no_progress,
                        inputs=folders)  # fmt: skip
    elif args.dataset_command == "merge":
        from collections import Counter

        from vad.dataset.export import set_candidates, set_sample_ids
        from vad.errors import DatasetError
        from vad.fsutil import check_out

        sets = [Path(name).resolve() for name in args.sets]
        twice = [f for i, f in enumerate(sets) if f in sets[:i]]
        if twice:
            raise DatasetError(f"{twice[0]} is given twice: give each set once")
        check_out(out, [Path(name) for name in args.sets], "one of the sets to merge")
        # ids held by two sets (two exports of one run, say) are told apart by the set
        seen = Counter(i for folder in sets for i in set(set_sample_ids(folder)))
        clash = frozenset(i for i, count in seen.items() if count > 1)
        candidates = [c for i, folder in enumerate(sets)
                      for c in set_candidates(folder, f"{i}-{folder.name}", clash,
                                              opts.allow_missing)]  # fmt: skip
        record = export(candidates, out, opts, [str(f) for f in sets], not args.no_progress,
                        inputs=sets)  # fmt: skip
    else:
        from vad.dataset.procedural import export_shapes

        record = export_shapes(
            out, args.n, opts, args.seed, args.clutter, args.leaves, not args.no_progress
        )
    _print_export_summary(out, record)
    return 0


def _print_export_summary(out: Path, record: dict[str, Any]) -> None:
    from vad.dataset.export import lost_warning

    counts = record["counts"]
    damaged = counts.get("damaged_lines", 0)
    skipped = ""
    if damaged:
        skipped = f"; damaged lines skipped: {damaged} (first: {record['damaged_lines'][0]})"
    print(
        f"{out}: {counts['kept']} images in {counts['labels']} classes, "
        f"{counts['shards']} shards; dropped {counts['dropped'] or 'none'}{skipped}"
    )
    warning = lost_warning(record)
    if warning:
        print(warning, file=sys.stderr)


def _add_dataset(sub: argparse._SubParsersAction) -> None:
    dataset = sub.add_parser("dataset", help="export rendered images as a training set")
    dsub = dataset.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")
    exp = dsub.add_parser(
        "export",
        help="export the drawings of runs",
        description="Filters (render ok, not blank), pHash dedupe, a fixed "
        "resize; writes an ImageFolder, tar shards and parquet metadata.",
    )
    exp.add_argument("runs", nargs="+", help="run folder names, prefixes or paths")
    exp.add_argument(
        "--label",
        default="concept",
        help="ImageFolder class: concept, level, model, language or task",
    )
    exp.add_argument("--runs-dir", metavar="DIR")
    exp.add_argument(
        "--allow-missing",
        action="store_true",
        help="export even when more than 1%% of the drawings (and more than one) are left "
        "out for reasons other than the model's rendering: an image file missing or "
        "unreadable (missing_image), or a sample the run did not finish (model_error, "
        "crash, budget_stop). Without it such an export fails; with it, a warning. "
        "Damaged lines of samples.jsonl are skipped and counted either way",
    )
    _add_export_options(exp)
    merge = dsub.add_parser(
        "merge",
        help="join training sets (the shards of `vad generate --shard I/N`, or exports)",
        description="One training set from several: near-duplicates removed across all of "
        "them, one metadata table, the same formats as `vad dataset export`.",
    )
    merge.add_argument("sets", nargs="+", metavar="DIR", help="generation or export folders")
    merge.add_argument(
        "--allow-missing", action="store_true", help="merge even when image files are missing"
    )
    _add_export_options(merge)
    shapes = dsub.add_parser("shapes", help="export procedural shape images (a baseline set)")
    shapes.add_argument(
        "--n",
        type=int,
        default=5000,
        help="distinct images to keep (default 5000); rendering goes on "
        "until that many pass the filters",
    )
    shapes.add_argument("--seed", type=int, default=0)
    shapes.add_argument(
        "--clutter",
        type=float,
        default=1.0,
        help="share of images drawn over a dead-leaves background (default 1)",
    )
    shapes.add_argument(
        "--leaves",
        type=_int_range,
        default=(60, 150),
        metavar="MIN,MAX",
        help="primitives in a dead-leaves background (default 60,150)",
    )
    _add_export_options(shapes)
    for action in (exp, merge, shapes):
        action.set_defaults(func=_export)
    sheet = dsub.add_parser(
        "grid",
        help="a PNG contact sheet of N random images of a training set",
        description="N images drawn at random (seeded) from a training set (an export, a "
        "merge, a generation or any ImageFolder), in a square grid.",
    )
    sheet.add_argument("set", metavar="DIR", help="the training set")
    sheet.add_argument("--out", required=True, metavar="PNG", help="the sheet to write")
    sheet.add_argument("--n", type=int, default=64, help="images (default 64)")
    sheet.add_argument("--seed", type=int, default=0, help="which images (default 0)")
    sheet.add_argument("--cell", type=int, default=64, help="px per image (default 64)")
    sheet.set_defaults(func=_grid)


def _grid(args: argparse.Namespace) -> int:
    from vad.dataset.grid import grid

    counts = grid(args.set, args.out, args.n, args.seed, args.cell)
    print(
        f"{args.out}: {counts['shown']} of {counts['images']} images, "
        f"{counts['columns']} x {counts['rows']}"
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from vad.train.trainer import train

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values["data"] = str(Path(args.data).resolve())
    values["progress"] = not args.no_progress
    ckpt = train(TrainConfig(**values))
    if os.environ.get("RANK", "0") == "0":
        print(f"checkpoint: {ckpt}")
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser(
        "train",
        help="contrastive pretraining (SimCLR / MoCo v2)",
        description="Pretrain an encoder on an image folder. The same command "
        "runs under `torchrun --nproc-per-node N -m vad train ...`; "
        "run it again with the same --out to resume.",
    )
    tr.add_argument("--data", required=True, help="an export folder or any ImageFolder")
    tr.add_argument("--out", required=True, help="run folder: last.pt, metrics.jsonl")
    _add_train_options(tr)
    tr.add_argument("--no-progress", action="store_true")
    tr.set_defaults(func=_train)


def _eval(args: argparse.Namespace) -> int:
    from vad.train.evaluate import EncoderComparison, default_photos, load_encoder, load_eval_data
    from vad.train.report import format_table

    encoder, cfg = load_encoder(args.ckpt)
    data = load_eval_data(
        args.train or default_photos() / "train",
        args.test or default_photos() / "test",
        cfg.image_size,
        args.train_per_class,
        args.test_per_class,
    )
    comparison = EncoderComparison({"photos": data}, cfg, args.k)
    mine = comparison.score(encoder)
    mine.pop("knn_gain_ci")  # the interval is in the knn_gain text
    rows = [
        {"encoder": "random init", **comparison.baseline},
        {"encoder": str(args.ckpt), **mine},
    ]
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0


def _add_eval(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("eval", help="kNN and linear probe of an encoder on real photos")
    ev.add_argument("--ckpt", required=True, help="a checkpoint from `vad train`")
    ev.add_argument("--train", help="ImageFolder of labelled photos (default: CIFAR-10 train)")
    ev.add_argument("--test", help="ImageFolder of test photos (default: CIFAR-10 test)")
    ev.add_argument("--train-per-class", type=int, help="cap train images per class")
    ev.add_argument("--test-per-class", type=int, help="cap test images per class")
    ev.add_argument("--k", type=int, default=200, help="kNN neighbours (default 200)")
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ev.set_defaults(func=_eval)


def _report(args: argparse.Namespace) -> int:
    from vad.errors import TrainError
    from vad.train.report import ReportOptions, pretrain_report

    synthetic = {}
    for item in args.synthetic:
        name, _, path = item.partition("=")
        synthetic[name if path else Path(name).name] = path or name
    evals = {}
    for item in args.eval:
        name, _, pair = item.partition("=")
        train_dir, comma, test_dir = pair.partition(",")
        if not (name and train_dir and comma and test_dir):
            raise TrainError(f"--eval {item!r}: give NAME=TRAIN_DIR,TEST_DIR (two ImageFolders)")
        if name in evals:
            raise TrainError(f"--eval {name!r} is given twice: give each set a name once")
        evals[name] = (train_dir, test_dir)
    if args.eval_every < 1:
        raise TrainError(f"--eval-every = {args.eval_every}: give a whole number from 1")
    training = report_training(**{name: getattr(args, name) for name in REPORT_FIELDS})
    training.check_settings()  # before the photos load and the sets are made
    from vad.train.backbones import BACKBONES

    BACKBONES.get(training.arch)  # an unknown arch: one line, now
    if args.images < 1:
        raise TrainError(f"--images = {args.images}: give a whole number from 1")
    opts = ReportOptions(
        out=Path(args.out),
        synthetic=synthetic,
        evals=evals,
        variants=list(dict.fromkeys(args.variant)),
        shapes=not args.no_shapes,
        images=args.images,
        training=training,
        photos=args.photos,
        eval_train_per_class=args.eval_train_per_class,
        eval_test_per_class=args.eval_test_per_class,
        progress=not args.no_progress,
    )
    result = pretrain_report(opts)
    print(result["table"])
    print(f"report: {result['markdown']}\nplot: {result['plot']}", file=sys.stderr)
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser(
        "pretrain-report",
        help="random vs synthetic vs real pretraining, side by side (table + kNN-vs-epochs plot)",
    )
    rep.add_argument("--out", required=True, help="report folder")
    rep.add_argument(
        "--synthetic",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="a synthetic training set, repeatable (an export, a generation or any "
        "ImageFolder); the procedural shapes row, made into the report folder at the same "
        "image count, is always there unless --no-shapes",
    )
    rep.add_argument(
        "--images",
        type=int,
        default=5000,
        help="images per pretraining set, real included (default 5000)",
    )
    _add_train_options(rep, REPORT_FIELDS, report_training())  # every row's training
    rep.add_argument(
        "--photos",
        help="ImageFolder root with train/ and test/ (default: $VAD_PHOTOS or the shared CIFAR-10)",
    )
    rep.add_argument(
        "--eval",
        action="append",
        default=[],
        metavar="NAME=TRAIN_DIR,TEST_DIR",
        help="a real-photo set to score on, repeatable (two ImageFolders with the same "
        "classes; default: --photos). The first gives the linear probe, the curves and "
        "the real row; each further one adds kNN columns",
    )
    rep.add_argument(
        "--variant",
        action="append",
        default=[],
        choices=["textures", "mixup"],
        help="also train every --synthetic set under this remedy, repeatable: textures "
        "(every image's flat background replaced by a dead-leaves texture) or mixup "
        "(half the images blended with another image of the set, weight 0.3-0.7)",
    )
    rep.add_argument(
        "--no-shapes",
        action="store_true",
        help="leave out the procedural shapes row (made at the same image count)",
    )
    rep.add_argument(
        "--eval-train-per-class",
        type=int,
        default=1000,
        help="labelled photos per class for kNN and the probe (default 1000)",
    )
    rep.add_argument(
        "--eval-test-per-class", type=int, default=500, help="test photos per class (default 500)"
    )
    rep.add_argument("--no-progress", action="store_true")
    rep.set_defaults(func=_report)
