"""Engines (vad/models/engines): the contract every registered engine keeps, and a new
engine as one module — registered, resolved, served by the model seam for a real run,
recorded in the manifest and listed by `vad models`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from openai_server import FakeOpenAI

import vad.models.engines as engines_module
from vad.errors import ModelConfigError
from vad.models.engines import ENGINES, Engine, Serving, engine_for, engines, register_engine
from vad.models.registry import resolve_model
from vad.models.seam import concurrency
from vad.runner import Runner
from vad.spec import spec_from_dict


@pytest.mark.parametrize("provider", sorted(engines()))
def test_engine_contract(provider: str) -> None:
    engine = engine_for(provider)
    assert engine is not None and engine.name == provider
    assert engine.default_slots >= 1
    shipped = engine.models()
    assert shipped, f"{provider} ships no model"
    for key, description in shipped.items():
        model = resolve_model(f"{provider}/{key}")
        assert model.is_local and model.provider == provider and model.local
        assert model.styles and description
        assert isinstance(engine.weights(model.local), dict)
    with pytest.raises(ModelConfigError, match=provider):
        resolve_model(f"{provider}/no-such-model-here")
    unready = engine.unready()
    assert unready is None or (len(unready) == 2 and all(unready))
    engine.check()  # the settings of this environment are good


def test_api_providers_are_not_engines() -> None:
    model = resolve_model("openai/gpt-4o-mini")
    assert engine_for("openai") is None and not model.is_local
    assert concurrency(model).slots is None


class _Served:
    """FakeOpenAI (a real HTTP server) as an engine's served model."""

    def __init__(self, server: FakeOpenAI, slots: int) -> None:
        self.server, self.slots, self.stopped = server, slots, False

    @property
    def api_base(self) -> str:
        return self.server.api_base

    def check(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"engine": "echo", "slots": self.slots}

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def echo_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[_Served]]:
    """A new engine, as one module would add it: a class under @register_engine."""
    engines()  # vad's own first
    monkeypatch.setattr(ENGINES, "_classes", dict(ENGINES._classes))
    monkeypatch.setattr(engines_module, "_INSTANCES", {})
    served: list[_Served] = []

    @register_engine("echo")
    class Echo(Engine):
        default_slots = 3
        also = "echo/ANY: anything, drawn as a circle"

        def resolve(self, name: str, model_id: str) -> tuple[str, str, tuple[str, ...]]:
            if model_id != "tiny":
                raise ModelConfigError(f"unknown echo model {model_id!r}: choose from echo/tiny")
            return model_id, model_id, ("chat",)

        @contextlib.contextmanager
        def serve(self, local: str, alias: str, how: Serving) -> Iterator[_Served]:
            with FakeOpenAI() as server:
                served.append(_Served(server, how.slots))
                yield served[-1]

        def models(self) -> dict[str, str]:
            return {"tiny": "a circle for every caption"}

        def weights(self, local: str) -> dict[str, Any]:
            return {"weights": f"echo:{local}"}

    yield served


def test_a_new_engine_is_one_module(echo_engine: list[_Served], capsys: Any) -> None:
    model = resolve_model("echo/tiny")
    assert model.is_local and model.styles == ("chat",)
    assert concurrency(model).slots == 3  # the engine's own default
    spec = spec_from_dict({"name": "echo", "models": ["echo/tiny"], "levels": ["shapes"],
                           "limit": 2, "slots": 2})  # fmt: skip
    runner = Runner(spec, progress=False)
    stats = runner.run()
    assert stats.written == 2 and stats.status["ok"] == 2
    assert len(echo_engine) == 1 and echo_engine[0].slots == 2
    manifest = json.loads(runner.folder.manifest_path.read_text())
    assert manifest["models"][0]["weights"] == "echo:tiny"
    assert manifest["sessions"][-1]["engines"] == {"echo/tiny": {"engine": "echo", "slots": 2}}
    session = manifest["sessions"][-1]
    assert (session["connections"], session["slots"]) == ({"echo/tiny": 2}, {"echo/tiny": 2})
    # the same run, asked with one slot: a session of its own says so
    again = Runner(spec.replace(slots=1), progress=False)
    again.run()
    sessions = json.loads(again.folder.manifest_path.read_text())["sessions"]
    assert [s["slots"] for s in sessions] == [{"echo/tiny": 2}, {"echo/tiny": 1}]
    records = [json.loads(line) for line in runner.folder.samples_path.read_text().splitlines()]
    assert {r["status"] for r in records} == {"ok"}
    assert all(r["cost_usd"] == 0.0 for r in records)  # served by vad: free

    from vad.commands import models_cmd

    models_cmd()
    listed = capsys.readouterr().out
    assert "echo/tiny" in listed and "a circle for every caption" in listed
    assert "echo/ANY: anything" in listed
