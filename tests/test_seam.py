"""One model seam: the concurrency rule, the same in every command, and its refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vad.errors import SpecError
from vad.models.registry import resolve_model
from vad.models.seam import DEFAULT_CONNECTIONS, Concurrency, concurrency, open_model
from vad.spec import spec_from_dict

LOCAL = resolve_model("local/qwen2.5-coder-0.5b")
API = resolve_model("openai/gpt-4o-mini", "http://127.0.0.1:9/v1")


@pytest.mark.parametrize(
    ("connections", "slots", "want"),
    [
        (None, None, Concurrency(8, 8)),  # the engine's default: every slot busy
        (1, None, Concurrency(1, 1)),  # one connection asked for: one, on one slot
        (None, 2, Concurrency(2, 2)),
        (2, 8, Concurrency(2, 8)),  # fewer in flight than slots: a real comparison
        (8, 8, Concurrency(8, 8)),
    ],
)
def test_an_embedded_model_gets_the_connections_asked_for(
    connections: int | None, slots: int | None, want: Concurrency
) -> None:
    assert concurrency(LOCAL, connections, slots) == want


def test_more_connections_than_slots_are_refused_with_the_fix() -> None:
    with pytest.raises(SpecError) as caught:
        concurrency(LOCAL, 9, 8)
    message = str(caught.value)
    assert "9 connections to local/qwen2.5-coder-0.5b" in message
    assert "--slots 9" in message and "--max-connections 8" in message


def test_an_api_model_takes_connections_and_ignores_slots() -> None:
    assert concurrency(API) == Concurrency(DEFAULT_CONNECTIONS, None)
    assert concurrency(API, 12, 2, rpm=60) == Concurrency(12, None, 60)


def test_an_api_model_is_opened_without_an_engine() -> None:
    with open_model(API, Concurrency(3)) as opened:
        assert opened.engine is None
        assert opened.model.api_base == API.api_base
        assert opened.client.limiter._slots._value == 3  # type: ignore[attr-defined]


def test_slots_are_a_spec_field_outside_the_hash() -> None:
    base = {"models": ["local/qwen2.5-coder-0.5b"]}
    assert spec_from_dict({**base, "slots": 2}).slots == 2
    assert spec_from_dict({**base, "slots": 2}).spec_hash() == spec_from_dict(base).spec_hash()
    with pytest.raises(SpecError, match="field 'slots' = 0"):
        spec_from_dict({**base, "slots": 0})


@pytest.mark.parametrize("command", ["draw", "generate"])
def test_the_commands_refuse_connections_above_the_slots_before_any_work(
    tmp_path: Path, command: str
) -> None:
    """Refused before an engine starts or a folder is made (exit 2, one line)."""
    out = (
        ["--runs-dir", str(tmp_path / "runs")]
        if command == "draw"
        else ["--out", str(tmp_path / "g"), "--n", "2"]
    )
    done = subprocess.run(
        [sys.executable, "-m", "vad", command, "--model", "local/qwen2.5-coder-0.5b",
         "--max-connections", "4", "--slots", "2", "--no-progress", *out],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "4 connections to local/qwen2.5-coder-0.5b, whose engine decodes 2" in done.stderr
    assert "llama-server" not in done.stderr
    assert not (tmp_path / "g").exists() and not list((tmp_path / "runs").glob("*/samples.jsonl"))
