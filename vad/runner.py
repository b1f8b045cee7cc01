"""Spec -> concepts x models x languages -> model calls (cache first) -> renders -> samples.

Everything that can be wrong with a spec (unknown model, missing key, bad concept file,
language without a renderer) fails before the first request. A killed run started
again picks up where it stopped: finished samples are skipped and replies already in
the response store are not requested twice.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vad import provenance
from vad._paths import cache_dir, runs_dir
from vad.concepts import load_concepts
from vad.errors import ModelCallError, SpecError
from vad.extract import Extraction
from vad.models import ModelClient, Reply, ResolvedModel, SamplingParams, check_credentials
from vad.models.client import RateLimiter, RetryPolicy
from vad.models.registry import resolve_model
from vad.prompts import Prompt
from vad.render import RenderPool, RenderResult, RenderStatus, get_renderer
from vad.render.jail import bwrap_path, jail_info
from vad.rundir import RunFolder, now_iso
from vad.spec import RunSpec
from vad.store import ResponseStore, cache_key
from vad.tasks import Job, Task, get_task


@dataclass
class RunStats:
    """What one invocation of a run did (not the run's totals)."""

    model_calls: int = 0
    cache_hits: int = 0
    written: int = 0
    skipped: int = 0
    status: Counter[str] = field(default_factory=Counter)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in text)


def request_key(job: Job, prompt: Prompt, params: SamplingParams) -> str:
    """Content address of a request: only fields that change the reply."""
    model = job.model
    return cache_key({
        "model": model.name,
        "api_base": None if model.provider == "local" else model.api_base,
        "style": prompt.style,
        "payload": prompt.payload(),
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
        "seed": params.seed,
        "template": prompt.template_id,
        "prompt_version": prompt.version,
        "sample_index": job.sample_index,
    })  # fmt: skip


class Runner:
    """Runs one spec into one run folder."""

    def __init__(
        self,
        spec: RunSpec,
        root: str | Path | None = None,
        run_name: str | None = None,
        store_path: str | Path | None = None,
        progress: bool = True,
    ) -> None:
        self.spec, self.progress = spec, progress
        self.folder = RunFolder(runs_dir(root).resolve() / (run_name or spec.folder_name()))
        self.store_path = Path(store_path) if store_path else cache_dir() / "responses.sqlite"
        self.task: Task = get_task(spec.task)
        self.stats = RunStats()
        self._lock = threading.Lock()
        # Validation before any work: models, keys, concepts, prompts, renderers.
        self.models = [self._resolve(entry) for entry in spec.models]
        for model, _ in self.models:
            check_credentials(model)
        for lang in spec.languages:
            get_renderer(lang)
        if spec.sandbox:
            bwrap_path()
        self.pool = RenderPool(sandbox=spec.sandbox)
        self.concepts = load_concepts(
            spec.levels or None, spec.ids or None, spec.limit, spec.concept_seed, spec.concept_files
        )
        if not self.concepts:
            raise SpecError("the spec selects no concepts: check levels, ids and limit")
        self.jobs = self.task.jobs(spec, self.concepts, self.models)

    @staticmethod
    def _resolve(entry: Any) -> tuple[ResolvedModel, str]:
        model = resolve_model(entry.name, entry.api_base)
        style = model.default_style if entry.style == "auto" else entry.style
        if style not in model.styles:
            raise SpecError(f"{model.name} takes {' or '.join(model.styles)} prompts, not {style}")
        return model, style

    def run(self) -> RunStats:
        existing = self.folder.manifest_path.is_file()
        manifest = self.folder.read_manifest() if existing else None
        if manifest and manifest.get("spec_hash") != self.spec.spec_hash():
            raise SpecError(
                f"{self.folder.path} holds a run of a different spec; choose another --run-name"
            )
        done = self.folder.open()
        todo = [job for job in self.jobs if job.sample_id not in done]
        self.stats.skipped = len(self.jobs) - len(todo)
        if manifest is None:
            manifest = provenance.new_manifest(self.spec, self.task, self.models)
            manifest["run"] = self.folder.path.name
        manifest.setdefault("sessions", []).append({"started_at": now_iso(), "todo": len(todo)})
        manifest["status"] = "running"
        self.folder.write_manifest(manifest)
        status, started = "failed", time.monotonic()
        try:
            if todo:
                versions = self.pool.versions()
                manifest["renderer_versions"] = {k: versions[k] for k in self.spec.languages}
                manifest["sandbox"] = jail_info(self.spec.sandbox)
                self.folder.write_manifest(manifest)
            self._run_jobs(todo)
            status = "finished"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            self.pool.close()
            self.folder.close()
            manifest["sessions"][-1].update(
                ended_at=now_iso(),
                status=status,
                wall_s=round(time.monotonic() - started, 2),
                model_calls=self.stats.model_calls,
                cache_hits=self.stats.cache_hits,
                written=self.stats.written,
            )
            manifest.update(status=status, ended_at=now_iso(), totals=self.folder.totals())
            self.folder.write_manifest(manifest)
        return self.stats

    def _run_jobs(self, todo: list[Job]) -> None:
        store = ResponseStore(self.store_path)
        bar = _progress(len(todo), self.progress, self.spec.name)
        renders = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="render")
        try:
            for model, _ in self.models:
                jobs = [job for job in todo if job.model.name == model.name]
                if not jobs:
                    continue
                with self._serving(model) as live:
                    self._run_model(live, jobs, store, renders, bar)
            renders.shutdown(wait=True)
        finally:
            renders.shutdown(wait=True, cancel_futures=True)  # after an error: drop the queue
            bar.close()
            store.close()

    @contextlib.contextmanager
    def _serving(self, model: ResolvedModel) -> Iterator[ResolvedModel]:
        if model.provider != "local":
            yield model
            return
        from vad.models.local import serve

        with serve(model.local or "", model.served_name) as server:
            yield model.with_api_base(server.api_base)

    def _run_model(
        self,
        model: ResolvedModel,
        jobs: list[Job],
        store: ResponseStore,
        renders: ThreadPoolExecutor,
        bar: Any,
    ) -> None:
        spec = self.spec
        limits = spec.rate_limits.get(model.provider, {})
        connections = int(limits.get("max_connections", spec.max_connections))
        if model.provider == "local":
            connections = 1  # one llama.cpp slot: more would only queue
        client = ModelClient(
            model, RateLimiter(connections, limits.get("rpm")), RetryPolicy(**spec.retry)
        )
        pending: set[Future[None]] = set()
        with ThreadPoolExecutor(max_workers=connections, thread_name_prefix="model") as calls:
            queue = iter(jobs)
            for job in queue:
                pending.add(calls.submit(self._one, job, model, client, store, renders, bar))
                if len(pending) >= connections * 2:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        fut.result()
            for fut in pending:
                fut.result()
        self.stats.model_calls += client.calls

    def _one(
        self,
        job: Job,
        model: ResolvedModel,
        client: ModelClient,
        store: ResponseStore,
        renders: ThreadPoolExecutor,
        bar: Any,
    ) -> None:
        prompt = self.task.prompt(job, self.spec)
        params = SamplingParams(
            self.spec.temperature, self.spec.max_tokens, self.spec.seed + job.sample_index
        )
        key = request_key(job, prompt, params)
        cached = store.get(key)
        record = self._base_record(job, prompt, params, key)
        if cached is not None:
            reply = Reply(**cached)
            with self._lock:
                self.stats.cache_hits += 1
        else:
            try:
                reply = client.complete(prompt, params)
            except ModelCallError as exc:
                self._write({**record, "status": "model_error", "error": str(exc)}, bar)
                return
            store.put(
                key,
                model.name,
                {"template": prompt.template_id, **prompt.payload()},
                reply.to_dict(),
            )
        extraction = self.task.extract(job, prompt, reply.text, reply.finish_reason == "length")
        record.update(
            cached=cached is not None,
            **_reply_fields(reply),
            extraction=extraction.as_record(),
            code=extraction.code,
        )
        renders.submit(self._render, job, extraction, record, bar)

    def _render(self, job: Job, extraction: Extraction, record: dict[str, Any], bar: Any) -> None:
        try:
            result = self._render_to_folder(job, extraction, record)
        except Exception as exc:  # a bug on the host side must not lose the sample silently
            result = RenderResult(RenderStatus.CRASH, f"host error: {type(exc).__name__}: {exc}")
        self._write({**record, "status": str(result.status), "render": result.to_record()}, bar)

    def _render_to_folder(
        self, job: Job, extraction: Extraction, record: dict[str, Any]
    ) -> RenderResult:
        if extraction.code is None:
            return RenderResult(RenderStatus.NO_CODE, "; ".join(extraction.notes))
        rel = (
            Path("images")
            / _slug(job.model.name)
            / job.language
            / job.concept.level
            / f"{_slug(job.concept.id)}__s{job.sample_index}.png"
        )
        result = self.pool.render(
            job.language, extraction.code, self.spec.width, self.spec.height,
            self.folder.path / rel,
        )  # fmt: skip
        if result.ok:
            record["image"] = str(rel)
        return result

    def _base_record(
        self, job: Job, prompt: Prompt, params: SamplingParams, key: str
    ) -> dict[str, Any]:
        return {
            "sample_id": job.sample_id, "task": job.task, "concept_id": job.concept.id,
            "level": job.concept.level, "caption": job.concept.caption,
            "model": job.model.name, "language": job.language, "style": prompt.style,
            "sample_index": job.sample_index, "template": prompt.template_id,
            "prompt_version": prompt.version, "temperature": params.temperature,
            "max_tokens": params.max_tokens, "seed": params.seed, "request_key": key,
            "image": None, "created_at": now_iso(),
        }  # fmt: skip

    def _write(self, record: dict[str, Any], bar: Any) -> None:
        self.folder.append(record)
        with self._lock:
            self.stats.written += 1
            self.stats.status[record["status"]] += 1
            ok = self.stats.status.get("ok", 0)
            bar.set_postfix(ok=ok, failed=self.stats.written - ok, refresh=False)
            bar.update(1)


def _reply_fields(reply: Reply) -> dict[str, Any]:
    return {
        "raw_reply": reply.text,
        "finish_reason": reply.finish_reason,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "cost_usd": reply.cost_usd,
        "latency_s": reply.latency_s,
        "attempts": reply.attempts,
    }


def _progress(total: int, enabled: bool, name: str) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=name,
        unit="sample",
        disable=not enabled,
        dynamic_ncols=True,
        mininterval=0.5,
    )
