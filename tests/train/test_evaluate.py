"""kNN and linear probe against slow references, and `vad eval` / `vad pretrain-report`
end to end on image folders drawn in the test."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image

from vad.train.config import TrainConfig
from vad.train.evaluate import knn_scores, linear_probe_scores
from vad.train.trainer import train


def _slow_knn(train_f, train_y, test_f, classes, k, t):  # type: ignore[no-untyped-def]
    out = []
    for q in test_f:
        sims = sorted(
            ((float(q @ f), int(y)) for f, y in zip(train_f, train_y, strict=True)), reverse=True
        )[:k]
        votes = [0.0] * classes
        for s, y in sims:
            votes[y] += math.exp(s / t)
        out.append(votes)
    return torch.tensor(out)


def test_knn_matches_the_manual_reference() -> None:
    torch.manual_seed(0)
    train_f = torch.nn.functional.normalize(torch.randn(60, 8), dim=1)
    train_y = torch.randint(0, 4, (60,))
    test_f = torch.nn.functional.normalize(torch.randn(15, 8), dim=1)
    fast = knn_scores(train_f, train_y, test_f, 4, k=7, temperature=0.1, chunk=4)
    assert torch.allclose(fast, _slow_knn(train_f, train_y, test_f, 4, 7, 0.1), rtol=1e-4)


def test_linear_probe_separates_separable_features() -> None:
    torch.manual_seed(1)
    centres = torch.randn(3, 16) * 3
    y = torch.arange(3).repeat(40)
    x = centres[y] + torch.randn(120, 16)
    logits = linear_probe_scores(x[:90], y[:90], x[90:], 3)
    assert (logits.argmax(1) == y[90:]).float().mean() == 1.0


def _vad(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vad", *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_eval_command_scores_a_checkpoint_and_the_random_baseline(
    image_folder: Callable[..., Path], tmp_path: Path
) -> None:
    data = image_folder("synthetic", 12, size=16)
    photos_train = image_folder("photos/train", 10, size=24, seed=1)  # resized to 16 px
    photos_test = image_folder("photos/test", 5, size=24, seed=2)
    cfg = TrainConfig(
        data=str(data),
        out=str(tmp_path / "run"),
        image_size=16,
        batch_size=12,
        epochs=1,
        arch="vit_micro",
        proj_hidden=32,
        proj_dim=8,
        progress=False,
    )
    ckpt = train(cfg)
    proc = _vad(
        "eval",
        "--ckpt",
        str(ckpt),
        "--train",
        str(photos_train),
        "--test",
        str(photos_test),
        "--k",
        "5",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["encoder"] for r in rows] == ["random init", str(ckpt)]
    for r in rows:
        for key in ("knn_top1", "knn_top5", "linear_top1", "linear_top5"):
            assert 0 <= r[key] <= 100
        assert r["knn_top5"] == 100.0  # three classes: top-5 always holds the answer
    missing = _vad("eval", "--ckpt", str(tmp_path / "nope.pt"))
    assert missing.returncode == 2 and "train one with `vad train" in missing.stderr


@pytest.mark.slow
def test_pretrain_report_end_to_end(image_folder: Callable[..., Path], tmp_path: Path) -> None:
    synthetic = image_folder("synthetic", 16, size=16)
    photos = tmp_path / "photos"
    image_folder("photos/train", 16, size=16, seed=1)
    image_folder("photos/test", 6, size=16, seed=2)
    more = tmp_path / "more"  # a second real-photo set
    image_folder("more/train", 10, size=16, seed=3)
    image_folder("more/test", 4, size=16, seed=4)
    out = tmp_path / "report"
    args = [
        "pretrain-report",
        "--out",
        str(out),
        "--synthetic",
        f"drawings={synthetic}",
        "--eval",
        f"photos={photos / 'train'},{photos / 'test'}",
        "--eval",
        f"more={more / 'train'},{more / 'test'}",
        "--variant",
        "textures",
        "--variant",
        "mixup",
        "--no-shapes",
        "--images",
        "32",
        "--epochs",
        "2",
        "--image-size",
        "16",
        "--batch-size",
        "16",
        "--arch",
        "vit_micro",
        "--eval-train-per-class",
        "16",
        "--eval-test-per-class",
        "6",
        "--no-progress",
    ]
    proc = _vad(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| random init |" in proc.stdout and "| drawings |" in proc.stdout
    assert "| real (photos train) |" in proc.stdout
    record = json.loads((out / "report.json").read_text())
    assert [r["pretraining"] for r in record["rows"]] == [
        "random init",
        "drawings",
        "drawings + textures",
        "drawings + mixup",
        "real (photos train)",
    ]
    assert {r["images"] for r in record["rows"][1:]} == {32}  # one budget
    assert record["variants"] == {"textures": {"backgrounds": 1.0}, "mixup": {"mixup": 0.5}}
    assert record["eval"]["more"]["test_images"] == 12
    for row in record["rows"]:  # the second set: kNN for every row, a gain for the trained
        assert 0 <= row["knn_top1 more"] <= 100
        assert ("knn_gain more" in row) == (row["pretraining"] != "random init")
    assert "knn_top1 more" in proc.stdout and "knn gain vs random more" in proc.stdout
    saved = torch.load(out / "runs" / "drawings-textures" / "last.pt", weights_only=False)
    assert saved["config"]["backgrounds"] == 1.0 and saved["config"]["mixup"] == 0.0
    assert [p[0] for p in record["curves"]["drawings"]] == [0, 1, 2]
    assert Image.open(out / "knn_vs_epochs.png").size[0] > 300
    assert (out / "report.csv").read_text().startswith("pretraining,images,epochs,knn_top1")
    bad = _vad(*[a if a != "mixup" else "noise" for a in args])
    assert bad.returncode == 2 and "invalid choice: 'noise'" in bad.stderr
    odd = _vad(*[a.replace(",", ";") if a.startswith("more=") else a for a in args])
    assert odd.returncode == 2 and "NAME=TRAIN_DIR,TEST_DIR" in odd.stderr
    again = _vad(*args)
    assert again.returncode == 0
    assert json.loads((out / "report.json").read_text())["rows"] == record["rows"]  # resumed


def test_paired_gain_is_the_mean_difference_with_an_interval() -> None:
    import numpy as np

    from vad.train.evaluate import paired_gain

    base = np.array([True, False] * 50)
    same = paired_gain(base, base)
    assert same == {"gain": 0.0, "low": 0.0, "high": 0.0}
    better = base.copy()
    better[1:21:2] = True  # 10 more right answers out of 100
    gain = paired_gain(better, base)
    assert gain["gain"] == 10.0 and 0 < gain["low"] < 10 < gain["high"] < 20


@pytest.mark.slow
def test_encoder_comparison_pairs_every_set_with_random_init(
    image_folder: Callable[..., Path],
) -> None:
    from vad.train.evaluate import EncoderComparison, load_eval_data, random_encoder

    sets = {
        name: load_eval_data(
            image_folder(f"{name}/train", 4, size=16, seed=seed),
            image_folder(f"{name}/test", 2, size=16, seed=seed + 1),
            16,
        )
        for name, seed in (("photos", 0), ("more", 2))
    }
    cfg = TrainConfig(arch="vit_micro", image_size=16)
    comparison = EncoderComparison(sets, cfg, k=3)
    plain = {"knn_top1", "knn_top5", "linear_top1", "linear_top5"}
    assert set(comparison.baseline) == plain | {"knn_top1 more"}
    same = comparison.score(random_encoder(cfg))  # the same random init: no gain anywhere
    assert {k: same[k] for k in comparison.baseline} == comparison.baseline
    assert same["knn_gain"] == "+0.0 [+0.0, +0.0]" == same["knn_gain more"]
    assert same["knn_gain_ci"] == {"gain": 0.0, "low": 0.0, "high": 0.0} == same["knn_gain_ci more"]
