"""The training loop: checkpoints embed their config, resume is exact, DDP matches one process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from vad.errors import TrainError
from vad.train.config import TrainConfig
from vad.train.trainer import train


def _cfg(data: Path, out: Path, **kw: object) -> TrainConfig:
    base = dict(
        data=str(data),
        out=str(out),
        arch="resnet18",
        stem="imagenet",
        image_size=16,
        batch_size=16,
        epochs=2,
        proj_hidden=64,
        proj_dim=16,
        progress=False,
        num_threads=1,
    )
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=False)["model"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=atol), k


@pytest.mark.parametrize(
    ("method", "remedies"),
    [("simclr", {}), ("moco", {}), ("simclr", {"backgrounds": 0.5, "mixup": 0.5})],
    ids=["simclr", "moco", "simclr-textures-mixup"],
)
@pytest.mark.slow
def test_resume_continues_exactly_where_it_stopped(
    image_folder: Callable[..., Path],
    tmp_path: Path,
    method: str,
    remedies: dict[str, float],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = image_folder("shapes", 12, size=16)  # 36 images: 2 steps per epoch
    kw = dict(method=method, queue_size=64, **remedies)
    straight = train(_cfg(data, tmp_path / "a", **kw))
    for steps in (1, 2):  # stop in epoch 1 (step 1 of 4), in epoch 2 (step 3), then finish
        ckpt = train(_cfg(data, tmp_path / "b", session_steps=steps, **kw))
        assert torch.load(ckpt, weights_only=False)["step"] == (1 if steps == 1 else 3)
    err = capsys.readouterr().err
    assert "step 1 of 4: run the same command" in err and "step 3 of 4" in err
    resumed = train(_cfg(data, tmp_path / "b", **kw))
    if remedies:  # the remedies change what is learned
        plain = train(_cfg(data, tmp_path / "c", method=method, queue_size=64))
        pairs = zip(_weights(plain).values(), _weights(straight).values(), strict=True)
        assert any(not torch.allclose(a.float(), b.float()) for a, b in pairs)
    _same(_weights(straight), _weights(resumed), atol=1e-6)
    saved = torch.load(resumed, map_location="cpu", weights_only=False)
    assert saved["config"]["method"] == method and saved["step"] == 4
    assert [h["epoch"] for h in saved["history"]] == [1, 2]
    assert (tmp_path / "b" / "metrics.jsonl").read_text().count("\n") == 2


def test_resume_refuses_other_settings_and_small_data_is_named(
    image_folder: Callable[..., Path], tmp_path: Path
) -> None:
    data = image_folder("shapes", 12, size=16)
    train(_cfg(data, tmp_path / "a", epochs=1))
    with pytest.raises(TrainError, match=r"other settings.*lr"):
        train(_cfg(data, tmp_path / "a", epochs=2, lr=0.5))
    with pytest.raises(TrainError, match="less than one batch"):
        train(_cfg(data, tmp_path / "c", batch_size=64))
    with pytest.raises(TrainError, match="unknown method"):
        train(_cfg(data, tmp_path / "d", method="byol"))


@pytest.mark.slow
def test_stem_auto_resolves_without_touching_the_config_and_resumes(
    image_folder: Callable[..., Path], tmp_path: Path
) -> None:
    data = image_folder("shapes", 12, size=16)  # 36 images: 2 steps per epoch
    cfg = _cfg(data, tmp_path / "a", stem="auto", device="cpu", session_steps=1)
    ckpt = train(cfg)
    assert cfg.stem == "auto"  # the caller's config is left as given
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert saved["config"]["stem"] == "imagenet" and saved["step"] == 1  # the built stem
    # a checkpoint records the resolved stem (as every checkpoint has): `--stem auto`
    # and the stem it resolves to both resume it; another stem is another model
    train(_cfg(data, tmp_path / "a", stem="auto", device="cpu", session_steps=1))
    resumed = train(_cfg(data, tmp_path / "a", stem="imagenet", device="cpu"))
    assert torch.load(resumed, weights_only=False)["step"] == 4
    with pytest.raises(TrainError, match=r"other settings \(stem\)"):
        train(_cfg(data, tmp_path / "a", stem="cifar", device="cpu", epochs=3))


def test_resolve_stem_picks_the_cifar_stem_only_on_a_gpu_for_small_resnets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vad.train.backbones import resolve_stem

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_stem("resnet18", 32, "auto", "auto") == "cifar"
    assert resolve_stem("resnet18", 32, "auto", "cpu") == "imagenet"
    assert resolve_stem("resnet18", 96, "auto", "cuda") == "imagenet"
    assert resolve_stem("resnet18", 96, "cifar", "cpu") == "cifar"  # as given
    assert resolve_stem("vit_tiny", 32, "auto", "cuda") == "auto"  # a ViT has no stem
    cfg = TrainConfig(arch="resnet50", image_size=64)
    assert cfg.resolved().stem == "cifar" and cfg.stem == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cfg.resolved().stem == "imagenet"


def _torchrun(nproc: int, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "vad",
        "train",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(
    image_folder: Callable[..., Path], tmp_path: Path
) -> None:
    data = image_folder("shapes", 8, size=16)  # 24 images: 3 steps of 8 per epoch
    common = [
        "--data",
        str(data),
        "--arch",
        "vit_micro",
        "--image-size",
        "16",
        "--batch-size",
        "8",
        "--epochs",
        "2",
        "--proj-hidden",
        "32",
        "--proj-dim",
        "8",
        "--device",
        "cpu",
        "--max-images",
        "24",
        "--backgrounds",  # the remedies draw for the global batch too
        "0.5",
        "--mixup",
        "0.5",
        "--no-progress",
    ]
    ddp = _torchrun(2, *common, "--out", str(tmp_path / "ddp"))
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = _torchrun(1, *common, "--out", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr[-3000:]
    a, b = _weights(tmp_path / "ddp" / "last.pt"), _weights(tmp_path / "single" / "last.pt")
    _same(a, b, atol=2e-5)
    before = torch.load(tmp_path / "ddp" / "last.pt", weights_only=False)["history"]
    assert before[-1]["step"] == 6
    # ... and MoCo's cross-rank key shuffle and queue run under DDP too
    moco = _torchrun(
        2, *common, "--method", "moco", "--queue-size", "32", "--out", str(tmp_path / "moco")
    )
    assert moco.returncode == 0, moco.stderr[-3000:]
    history = torch.load(tmp_path / "moco" / "last.pt", weights_only=False)["history"]
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in history)
