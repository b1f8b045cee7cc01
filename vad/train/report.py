"""One report, side by side: random init vs synthetic vs real pretraining, one budget.

Every pretraining set is cut to the same number of images and trained for the same
epochs with the same batch, seed and architecture, so each row has seen the same number
of images for the same number of steps. kNN on real photos is measured after every epoch
(epoch 0 is the shared random initialisation); the final encoders also get a linear
probe. Outputs: report.md / .csv / .json and knn_vs_epochs.png. Re-running resumes: a
finished training is read back from its checkpoint.
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
from vad.train.config import TrainConfig
from vad.train.evaluate import (
    default_photos,
    load_encoder,
    load_eval_data,
    paired_gain,
    random_encoder,
    score_encoder,
)
from vad.train.trainer import load_checkpoint, resolve_stem, train

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


@dataclass
class ReportOptions:
    out: Path
    synthetic: dict[str, str] = field(default_factory=dict)  # name -> export or ImageFolder
    images: int = 5000
    epochs: int = 8
    method: str = "simclr"
    arch: str = "resnet18"
    stem: str = "auto"
    image_size: int = 32
    batch_size: int = 128
    photos: str | None = None
    device: str = "auto"
    seed: int = 0
    eval_train_per_class: int | None = 1000
    eval_test_per_class: int | None = 500
    progress: bool = True


def gain_text(gain: dict[str, float]) -> str:
    """kNN top-1 gain over random init: points with the bootstrap 95% interval."""
    return f"{gain['gain']:+.1f} [{gain['low']:+.1f}, {gain['high']:+.1f}]"


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the columns that the rows have."""
    cols = [c for c in [*COLUMNS, "encoder"] if any(c in r for r in rows)]
    cols = ["encoder", *[c for c in cols if c != "encoder"]] if "encoder" in cols else cols

    def cell(v: Any) -> str:
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    names = {"knn_gain": "knn_gain vs random [95% CI]"}
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


def pretrain_report(opts: ReportOptions) -> dict[str, Any]:
    """Train and score every set; returns paths and the printed table."""
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    photos = Path(opts.photos) if opts.photos else default_photos()
    if not (photos / "train").is_dir() or not (photos / "test").is_dir():
        raise DatasetError(
            f"no real photos at {photos} (train/ and test/ ImageFolders): pass --photos DIR "
            "or set VAD_PHOTOS"
        )
    started = time.perf_counter()
    evals = load_eval_data(
        photos / "train",
        photos / "test",
        opts.image_size,
        opts.eval_train_per_class,
        opts.eval_test_per_class,
        opts.seed,
    )
    classes = len(evals.train.classes)
    base = TrainConfig(
        method=opts.method,
        arch=opts.arch,
        image_size=opts.image_size,
        epochs=opts.epochs,
        batch_size=opts.batch_size,
        seed=opts.seed,
        device=opts.device,
        eval_every=1,
        progress=opts.progress,
        max_images=opts.images,
    )
    base.stem = resolve_stem(base.stem if opts.stem == "auto" else opts.stem, base)
    sets = dict(opts.synthetic) or {
        "procedural shapes": str(
            _procedural(out, opts.images, opts.image_size, opts.seed, opts.progress)
        )
    }
    sets[f"real ({photos.name} train)"] = str(photos / "train")

    random_scores = score_encoder(random_encoder(base), evals)
    random_hits = random_scores.pop("knn_hits")
    rows = [{"pretraining": "random init", "images": 0, "epochs": 0, **random_scores}]
    curves: dict[str, list[tuple[int, float]]] = {}
    for name, data in sets.items():
        per_class = -(-opts.images // classes) if "real" in name else None
        cfg = dataclasses.replace(
            base,
            data=str(Path(data).resolve()),
            out=str(out / "runs" / _slug(name)),
            per_class=per_class,
        )
        t0 = time.perf_counter()
        ckpt = train(cfg, lambda backbone, epoch: _curve_point(backbone, evals))
        saved = load_checkpoint(ckpt)
        history = saved["history"]
        encoder, _ = load_encoder(ckpt)
        scores = score_encoder(encoder, evals)
        gain = paired_gain(scores.pop("knn_hits"), random_hits)
        rows.append(
            {
                "pretraining": name,
                "images": saved["images"],
                "epochs": len(history),
                **scores,
                "knn_gain": gain_text(gain),
                "knn_gain_ci": gain,
                "train_s": sum(h["seconds"] for h in history) or time.perf_counter() - t0,
            }
        )
        curves[name] = [(0, random_scores["knn_top1"])] + [
            (h["epoch"], h["knn_top1"]) for h in history if "knn_top1" in h
        ]
    table = format_table(rows)
    plot = out / "knn_vs_epochs.png"
    _plot(curves, random_scores["knn_top1"], plot)
    record = {
        "created_at": now_iso(),
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "device": "cuda" if base.device != "cpu" and torch.cuda.is_available() else "cpu",
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()},
        "train_config": base.to_dict(),
        "sets": sets,
        "photos": str(photos),
        "eval": {"train_images": len(evals.train), "test_images": len(evals.test)},
        "rows": rows,
        "curves": curves,
        "wall_s": time.perf_counter() - started,
    }
    write_json_atomic(out / "report.json", record)
    with (out / "report.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    md = out / "report.md"
    md.write_text(
        f"# Pretraining report\n\nkNN (k=200, T=0.1) and linear probe on {photos} "
        f"({len(evals.train)} train / {len(evals.test)} test photos), accuracy in %. "
        f"{opts.method}, {opts.arch} (stem {base.stem}), {opts.image_size} px, "
        f"batch {opts.batch_size}, {opts.epochs} epochs of at most {opts.images} images, "
        f"seed {opts.seed}.\n\n{table}\n\n![kNN vs epochs](knn_vs_epochs.png)\n",
        encoding="utf-8",
    )
    return {"table": table, "markdown": md, "plot": plot, "rows": rows, "json": json.dumps(rows)}
