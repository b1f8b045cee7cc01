"""Nothing users rely on changes: spec hashes, request keys, store files, run folders.

``tests/data/golden.json`` records, for every run spec in ``runs/``, its hash and the
request key of every first request its tasks make (their count, a digest of them all,
and the first few in full), and the same for generations. A change that moves any of
them would make every run folder of that spec a stranger and every stored reply
unreachable: this test fails first. Record again (only for a change meant to move
them, stated in its note) with ``VAD_RECORD_GOLDEN=1 pytest tests/test_golden.py``.

``tests/data/golden-store.sqlite`` is a response store written by an earlier version;
a run today must take its replies from it without a model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from vad.concepts import load_concepts
from vad.errors import ModelCallError
from vad.generate.run import GenerateSpec, Generator
from vad.runner import Runner
from vad.spec import load_spec, spec_from_dict
from vad.store import cache_key
from vad.tasks import get_task
from vad.tasks.context import Counters, JobContext

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden.json"
STORE = ROOT / "tests" / "data" / "golden-store.sqlite"
RECORD = os.environ.get("VAD_RECORD_GOLDEN") == "1"
# an API model on an endpoint nobody serves: keys include the endpoint, replies the store
STORE_SPEC = {
    "models": [{"name": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:9/v1"}],
    "levels": ["shapes"],
    "limit": 3,
    "languages": ["svg"],
    "max_tokens": 256,
}


# vad draw's flags make the same run (folder name) as they did
DRAW_COMMANDS = (
    ["draw"],
    ["draw", "--limit", "2", "--temperature", "0.5", "--render-size", "128"],
    ["draw", "--lang", "svg,tikz", "--samples", "3", "--seed", "4"],
)


class NoModel:
    """A client that never answers: each job stops at its first request, whose key the
    record holds."""

    calls = 0

    def __init__(self) -> None:
        self.prompts: list[Any] = []

    def complete(self, prompt: Any, params: Any) -> Any:
        self.prompts.append(prompt)
        raise ModelCallError("not asked: recording request keys")


class Rendered(BaseException):
    """Not an Exception: the pipeline's crash policy must not swallow it."""


class NoPool:
    """Nothing is rendered: every first request fails before its drawing."""

    def render(self, *args: Any) -> Any:
        raise Rendered("nothing is rendered while recording request keys")


def _first_requests(spec: Any, store_path: Path, client: NoModel | None = None) -> list[str]:
    """The request key of each job's first request, in job order (for a large spec, of
    jobs spread evenly over it)."""
    from vad.store import ResponseStore

    concepts = load_concepts(spec.levels or None, spec.ids or None, spec.limit,
                             spec.concept_seed, spec.concept_files)  # fmt: skip
    models = [Runner._resolve(entry) for entry in spec.models]
    keys: list[str] = []
    store = ResponseStore(store_path)
    try:
        for name in spec.tasks:
            task = get_task(name)
            jobs = task.jobs(spec, concepts, models, store_path.parent)
            keys.append(f"{name}: {len(jobs)} jobs")
            for job in jobs[:: max(1, len(jobs) // 2000)]:  # every job, or 2000 spread out
                written: list[dict[str, Any]] = []
                folder = SimpleNamespace(path=store_path.parent)
                ctx = JobContext(
                    spec,
                    job.model,
                    client or NoModel(),
                    store,  # type: ignore[arg-type]
                    NoPool(),
                    folder,
                    {},
                    written.append,
                    Counters(),
                )  # type: ignore[arg-type]
                task.run(job, ctx)
                keys += [r["request_key"] for r in written]
    finally:
        store.close()
    return keys


def _generation_requests(spec: GenerateSpec, tmp: Path, count: int) -> list[str]:
    spec = spec.model_copy(update={"out": str(tmp / "gen")})
    gen = Generator(spec, store_path=tmp / "gen.sqlite", progress=False, sandbox=False)
    keys = []
    for item, model, style, lang in gen._units():
        keys.append(gen._request(item, model, style, lang).key)
        if len(keys) == count:
            break
    gen.pool.close()
    return keys


def _summary(keys: list[str]) -> dict[str, Any]:
    return {"count": len(keys), "digest": cache_key({"keys": keys}), "first": keys[:4]}


def _observed(tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"specs": {}, "generations": {}}
    for path in sorted((ROOT / "runs").glob("*.yaml")):
        spec = load_spec(path)
        out["specs"][path.name] = {
            "spec_hash": spec.spec_hash(),
            "folder": spec.folder_name(),
            "requests": _summary(_first_requests(spec, tmp / f"{path.stem}.sqlite")),
        }
    store_spec = spec_from_dict(STORE_SPEC)
    out["specs"]["store-spec"] = {
        "spec_hash": store_spec.spec_hash(),
        "folder": store_spec.folder_name(),
        "requests": _summary(_first_requests(store_spec, tmp / "store-spec.sqlite")),
    }
    from vad.cli import _build_parser, _spec_from_draw

    out["commands"] = {
        " ".join(argv): _spec_from_draw(_build_parser().parse_args(argv)).spec_hash()
        for argv in DRAW_COMMANDS
    }
    for name, spec in {
        "default": GenerateSpec(),
        "compose-objects": GenerateSpec(
            strategy="compose", levels=("objects",), seed=3, languages=("svg", "matplotlib")
        ),
    }.items():
        out["generations"][name] = {
            "settings_hash": spec.settings_hash(),
            "requests": _summary(_generation_requests(spec, tmp, 24)),
        }
    return out


@pytest.mark.slow
def test_hashes_and_request_keys_are_those_recorded(tmp_path: Path) -> None:
    observed = _observed(tmp_path)
    if RECORD:
        GOLDEN.write_text(json.dumps(observed, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(GOLDEN.read_text())
    assert sorted(observed["specs"]) == sorted(recorded["specs"]), "a run spec came or went"
    for name, want in recorded["specs"].items():
        assert observed["specs"][name] == want, f"runs/{name}: hash or request keys moved"
    assert observed["generations"] == recorded["generations"]
    assert observed["commands"] == recorded["commands"]


def _runs_with(store: Path, runs: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    spec = runs / "spec.yaml"
    spec.write_text(json.dumps(STORE_SPEC))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["OPENAI_API_KEY"] = "sk-not-used"
    return subprocess.run(
        [sys.executable, "-m", "vad", "run", str(spec), "--runs-dir", str(runs),
         "--cache", str(store), "--no-progress", "--max-retries", "0", *extra],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_a_store_written_before_still_answers(tmp_path: Path) -> None:
    """Every reply of the store spec comes from a store file an earlier version wrote:
    the run finishes without reaching any model (its endpoint serves nothing)."""
    if RECORD:
        _record_store(tmp_path)
    store = tmp_path / "store.sqlite"
    shutil.copy(STORE, store)
    runs = tmp_path / "runs"
    runs.mkdir()
    done = _runs_with(store, runs)
    assert done.returncode == 0, done.stderr
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    assert folder.name.endswith(spec_from_dict(STORE_SPEC).spec_hash())
    records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 3
    assert all(r["cached"] and r["status"] == "ok" for r in records), records
    assert (folder / "manifest.json").is_file()
    again = _runs_with(store, runs)  # the folder resumes: nothing left to do
    assert again.returncode == 0, again.stderr
    assert len((folder / "samples.jsonl").read_text().splitlines()) == 3
    shown = subprocess.run([sys.executable, "-m", "vad", "leaderboard", str(folder),
                            "--out", str(tmp_path / "site")],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def _record_store(tmp: Path) -> None:
    """Write the store file (recording only): the replies a model would give the store
    spec's requests, put with today's store."""
    from tests.openai_server import drawing_for
    from vad.models import Reply
    from vad.store import ResponseStore

    asked = NoModel()
    spec = spec_from_dict(STORE_SPEC)
    keys = [k for k in _first_requests(spec, tmp / "keys.sqlite", asked) if " jobs" not in k]
    if STORE.exists():
        STORE.unlink()
    store = ResponseStore(STORE)
    for key, prompt in zip(keys, asked.prompts, strict=True):
        reply = Reply(drawing_for(json.dumps(prompt.payload())), "stop", 50, 60, 0.0001, 0.5)
        store.put(key, "openai/gpt-4o-mini", {"template": prompt.template_id,
                                              **prompt.payload()}, reply.to_dict())  # fmt: skip
    store.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{STORE}{suffix}").unlink(missing_ok=True)
