"""`vad eval --ckpt FILE` on files that are not checkpoints: one error line, never a traceback.

Checkpoints are loaded weights-only (tensors and plain data, no code); a hand-made
checkpoint of the trainer's layout (a tiny ViT, no training) stands in for a real one.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

from vad.cli import main
from vad.train.config import TrainConfig
from vad.train.evaluate import load_encoder
from vad.train.trainer import RESUME_KEYS, build_model, load_checkpoint

TINY = TrainConfig(arch="vit_micro", image_size=16, proj_hidden=32, proj_dim=8)


class Gadget:  # a pickled object of this class must never be loaded (it could be code)
    pass


def _checkpoint(path: Path, **changes: object) -> Path:
    """A checkpoint laid out as `vad train` writes it (as older versions did: the torch
    version as a TorchVersion object)."""
    model = build_model(TINY)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    state = {
        "config": TINY.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": 0,
        "epoch": 0,
        "history": [{"epoch": 1, "loss": 1.5}],
        "images": 12,
        "saved_at": "2024-01-01T00:00:00+00:00",
        "torch": torch.__version__,
        **changes,
    }
    torch.save(state, path)
    return path


@pytest.mark.slow
def test_a_checkpoint_of_the_trainer_loads_weights_only(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "last.pt")
    assert load_checkpoint(ckpt, keys=RESUME_KEYS)["history"] == [{"epoch": 1, "loss": 1.5}]
    encoder, cfg = load_encoder(ckpt)
    assert cfg.arch == "vit_micro" and isinstance(encoder, torch.nn.Module)


def _bad(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / "x.pt"
    if kind == "random bytes":
        path.write_bytes(bytes(range(7, 256)) * 3)
    elif kind == "text":
        path.write_text("epochs: 3\nlr: 0.1\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    elif kind == "dict":
        torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    elif kind == "object":
        torch.save({"config": {}, "model": {}, "x": Gadget()}, path)
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "not torch")
    elif kind == "wrong weights":
        _checkpoint(path, model={"backbone.w": torch.zeros(2)})
    elif kind == "folder":
        path.mkdir()
    return path  # "missing": nothing there


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("random bytes", "not a PyTorch file: it starts with b'\\x07"),
        ("text", "not a PyTorch file: it starts with b'epochs: '"),
        ("empty", "an empty file"),
        ("tensor", "a PyTorch file holding a Tensor, not a dict"),
        ("dict", "a PyTorch dict without 'config', 'model'"),
        ("object", "it pickles a test_checkpoint.Gadget object"),
        ("zip", "not a PyTorch file torch can read"),
        ("wrong weights", "its config and weights build no encoder"),
        ("folder", "a folder"),
    ],
)
def test_eval_names_a_file_that_is_not_a_checkpoint(
    kind: str, what: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _bad(kind, tmp_path)
    assert main(["eval", "--ckpt", str(path)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith(f"error: {path} is not a vad checkpoint ({what}") and "\n" not in err
    assert err.endswith("pass a file written by `vad train` (OUT/last.pt)")
    assert "Traceback" not in captured.err + captured.out


def test_eval_names_a_missing_path_and_a_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "--ckpt", str(tmp_path / "nope.pt")]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"error: no checkpoint at {tmp_path / 'nope.pt'}: train one with `vad train --out DIR`\n"
    )

    _checkpoint(tmp_path / "last.pt")
    assert main(["eval", "--ckpt", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().endswith(f"(a folder); pass {tmp_path / 'last.pt'}")
