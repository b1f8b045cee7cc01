"""One report, side by side: random init vs synthetic vs real pretraining, one budget.

Every pretraining set is cut to the same number of images and trained for the same
epochs with the same batch, seed and architecture, so each row has seen the same number
of images for the same number of steps. kNN on real photos is measured after every epoch
(epoch 0 is the shared random initialisation); the final encoders also get a linear
probe. Outputs: report.md / .csv / .json and knn_vs_epochs.png. Re-running resumes: a
finished training is read back from its checkpoint.

Every synthetic set can also be trained under named variants (``VARIANTS``: drawings
over dead-leaves textures, MixUp between drawings), each a row at the same budget. More
than one real-photo set can score the encoders (``--eval NAME=TRAIN,TEST``): the first
gives the linear probe, the kNN curves and the "real" row; each further one adds its kNN
top-1 and gain columns.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vad.errors import DatasetError
from vad.provenance import git_commit
from vad.rundir import now_iso, write_json_atomic
from vad.train.config import TrainConfig, report_training
from vad.train.evaluate import (
    EncoderComparison,
    default_photos,
    load_encoder,
    load_eval_data,
    score_encoder,
)
from vad.train.trainer import load_checkpoint, train

COLUMNS = [
    "pretraining",
    "images",
    "epochs",
    "knn_top1",
    "knn_top5",
    "linear_top1",
    "linear_top5",
    "knn_gain",
    "train_s",
]


# name -> TrainConfig fields of a variant of a synthetic set (see vad/train/remedies.py)
VARIANTS: dict[str, dict[str, float]] = {
    "textures": {"backgrounds": 1.0},
    "mixup": {"mixup": 0.5},
}


@dataclass
class ReportOptions:
    out: Path
    synthetic: dict[str, str] = field(default_factory=dict)  # name -> export or ImageFolder
    images: int = 5000
    training: TrainConfig = field(default_factory=report_training)
    photos: str | None = None
    evals: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (train, test)
    variants: list[str] = field(default_factory=list)  # names of VARIANTS
    shapes: bool = True  # the procedural shapes row, made at the same image count
    eval_train_per_class: int | None = 1000
    eval_test_per_class: int | None = 500
    progress: bool = True


def format_table(rows: list[dict[str, Any]], extra: list[str] = ()) -> str:  # type: ignore[assignment]
    """A Markdown table of the columns that the rows have (``extra`` ones at the end)."""
    cols = [c for c in [*COLUMNS, *extra, "encoder"] if any(c in r for r in rows)]
    cols = ["encoder", *[c for c in cols if c != "encoder"]] if "encoder" in cols else cols

    def cell(v: Any) -> str:
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    names = {"knn_gain": "knn_gain vs random [95% CI]"}
    names.update({c: c.replace("_gain ", " gain vs random ") for c in extra if "_gain " in c})
    lines = ["| " + " | ".join(names.get(c, c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _curve_point(backbone: torch.nn.Module, evals: Any) -> dict[str, float]:
    scores = score_encoder(backbone, evals, probe=False)
    scores.pop("knn_hits")
    return scores


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-").lower()


def _procedural(out: Path, n: int, size: int, seed: int, progress: bool) -> Path:
    from vad.dataset.export import ExportOptions
    from vad.dataset.procedural import VERSION, export_shapes

    folder = out / "data" / f"shapes-v{VERSION}-{n}-{size}px-s{seed}"
    if not (folder / "export.json").is_file():
        export_shapes(folder, n, ExportOptions(size=size, overwrite=True), seed, progress=progress)
    return folder


def _plot(curves: dict[str, list[tuple[int, float]]], baseline: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name, points in curves.items():
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", label=name)
    ax.axhline(baseline, color="gray", linestyle="--", label="random init")
    ax.set_xlabel("pretraining epoch")
    ax.set_ylabel("kNN top-1 on real photos (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _eval_sets(opts: ReportOptions) -> dict[str, tuple[Path, Path]]:
    """Real-photo sets by name: ``opts.evals``, else --photos / the default photos."""
    if opts.evals:
        sets = {name: (Path(tr), Path(te)) for name, (tr, te) in opts.evals.items()}
    else:
        photos = Path(opts.photos) if opts.photos else default_photos()
        sets = {photos.name: (photos / "train", photos / "test")}
    for name, (tr, te) in sets.items():
        for folder in (tr, te):
            if not folder.is_dir():
                raise DatasetError(
                    f"no real photos at {folder} (evaluation set {name!r}): give "
                    "--eval NAME=TRAIN_DIR,TEST_DIR with two ImageFolders, --photos DIR "
                    "(with train/ and test/), or set VAD_PHOTOS"
                )
    return sets


def _training_sets(
    opts: ReportOptions, real_train: Path, real_name: str
) -> list[tuple[str, str, dict[str, float], bool]]:
    """(row name, folder, TrainConfig changes, is the real-photo set) for every row that
    trains."""
    unknown = [v for v in opts.variants if v not in VARIANTS]
    if unknown:
        raise DatasetError(f"unknown variant {unknown[0]!r}: choose from {', '.join(VARIANTS)}")
    synthetic = dict(opts.synthetic)
    if opts.shapes or not synthetic:
        shapes = _procedural(
            opts.out, opts.images, opts.training.image_size, opts.training.seed, opts.progress
        )
        synthetic = {"procedural shapes": str(shapes), **synthetic}
    rows = []
    for name, folder in synthetic.items():
        rows.append((name, folder, {}, False))
        if name != "procedural shapes":
            rows += [(f"{name} + {v}", folder, VARIANTS[v], False) for v in opts.variants]
    rows.append((f"real ({real_name} train)", str(real_train), {}, True))
    return rows


def pretrain_report(opts: ReportOptions) -> dict[str, Any]:
    """Train and score every set; returns paths and the printed table."""
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    eval_sets = _eval_sets(opts)
    started = time.perf_counter()
    evals = {
        name: load_eval_data(
            tr,
            te,
            opts.training.image_size,
            opts.eval_train_per_class,
            opts.eval_test_per_class,
            opts.training.seed,
        )
        for name, (tr, te) in eval_sets.items()
    }
    first = next(iter(evals))
    main = evals[first]
    classes = len(main.train.classes)
    base = dataclasses.replace(opts.training, progress=opts.progress, max_images=opts.images)
    built = base.resolved()  # the stem every run builds and records
    plan = _training_sets(opts, eval_sets[first][0], first)
    others = [name for name in evals if name != first]
    extra = [c for name in others for c in (f"knn_top1 {name}", f"knn_gain {name}")]

    comparison = EncoderComparison(evals, base)
    random_top1 = comparison.baseline["knn_top1"]
    rows = [{"pretraining": "random init", "images": 0, "epochs": 0, **comparison.baseline}]
    curves: dict[str, list[tuple[int, float]]] = {}
    for name, data, changes, real in plan:
        per_class = -(-opts.images // classes) if real else None  # balanced classes
        cfg = dataclasses.replace(
            base,
            data=str(Path(data).resolve()),
            out=str(out / "runs" / _slug(name)),
            per_class=per_class,
            **changes,
        )
        t0 = time.perf_counter()
        ckpt = train(cfg, lambda backbone, epoch: _curve_point(backbone, main))
        saved = load_checkpoint(ckpt)
        history = saved["history"]
        rows.append(
            {
                "pretraining": name,
                "images": saved["images"],
                "epochs": len(history),
                **comparison.score(load_encoder(ckpt)[0]),
                "train_s": sum(h["seconds"] for h in history) or time.perf_counter() - t0,
            }
        )
        curves[name] = [(0, random_top1)] + [
            (h["epoch"], h["knn_top1"]) for h in history if "knn_top1" in h
        ]
    table = format_table(rows, extra)
    plot = out / "knn_vs_epochs.png"
    _plot(curves, random_top1, plot)
    sets = {name: data for name, data, _, _ in plan}
    record = {
        "created_at": now_iso(),
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "device": "cuda" if base.device != "cpu" and torch.cuda.is_available() else "cpu",
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()},
        "train_config": built.to_dict(),
        "sets": sets,
        "variants": {v: VARIANTS[v] for v in opts.variants},
        "photos": str(eval_sets[first][0].parent),
        "eval": {
            name: {
                "train": str(eval_sets[name][0]),
                "test": str(eval_sets[name][1]),
                "train_images": len(e.train),
                "test_images": len(e.test),
            }
            for name, e in evals.items()
        },
        "rows": rows,
        "curves": curves,
        "wall_s": time.perf_counter() - started,
    }
    write_json_atomic(out / "report.json", record)
    with (out / "report.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS + extra, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    md = out / "report.md"
    scored_on = "; ".join(
        f"{name}: {len(e.train)} train / {len(e.test)} test photos" for name, e in evals.items()
    )
    t = opts.training
    variants = "".join(
        f" Variant `{v}`: {', '.join(f'{k}={x}' for k, x in VARIANTS[v].items())}."
        for v in opts.variants
    )
    md.write_text(
        f"# Pretraining report\n\nkNN (k=200, T=0.1) and linear probe ({scored_on}), "
        f"accuracy in %; the probe and the curves on {first}. "
        f"{t.method}, {t.arch} (stem {built.stem}), {t.image_size} px, "
        f"batch {t.batch_size}, {t.epochs} epochs of at most {opts.images} images, "
        f"seed {t.seed}.{variants}\n\n{table}\n\n![kNN vs epochs](knn_vs_epochs.png)\n",
        encoding="utf-8",
    )
    return {
        "table": table,
        "markdown": md,
        "plot": plot,
        "rows": rows,
        "json": json.dumps(rows, default=str),
    }
