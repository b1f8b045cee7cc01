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


def test_connections_set_for_the_engine_alone_above_its_slots_are_refused() -> None:
    with pytest.raises(SpecError) as caught:
        concurrency(LOCAL, 9, 8, source="run.yaml")
    message = str(caught.value)
    assert message.startswith("run.yaml: 9 connections to local/qwen2.5-coder-0.5b")
    assert "rate_limits.local.max_connections" in message and "--slots 9" in message


def test_run_wide_connections_above_the_slots_are_cut_and_said() -> None:
    plan = concurrency(LOCAL, 16, 4, shared=True)
    assert (plan.connections, plan.slots) == (4, 4)
    assert "16 connections cut to its engine's 4 slots" in plan.note
    assert concurrency(LOCAL, 1, None, shared=True) == Concurrency(1, 1)
    assert not concurrency(LOCAL, 1, None, shared=True).note


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


def test_a_run_refuses_engine_connections_above_its_slots_before_any_work(
    tmp_path: Path,
) -> None:
    """Refused before an engine starts or a folder is made (exit 2, one line)."""
    spec = tmp_path / "local.yaml"
    spec.write_text(
        "models: [local/qwen2.5-coder-0.5b]\nrate_limits: {local: {max_connections: 4}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "vad", "run", str(spec), "--slots", "2", "--no-progress",
         "--runs-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "4 connections to local/qwen2.5-coder-0.5b" in done.stderr
    assert "decodes 2 requests together" in done.stderr
    assert "llama-server" not in done.stderr
    assert not list((tmp_path / "runs").glob("*/samples.jsonl"))
