"""Spec -> tasks x concepts x models x languages -> jobs -> samples.jsonl.

Everything that can be wrong with a spec (unknown model, missing key, bad concept file,
language without a renderer) fails before the first request. A killed run started
again picks up where it stopped: finished samples are skipped and replies already in
the response store are not requested twice.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vad import provenance
from vad._paths import cache_dir, runs_dir
from vad.concepts import load_concepts
from vad.errors import SpecError
from vad.languages import get_language
from vad.models import ResolvedModel, check_credentials
from vad.models.client import RetryPolicy, Stopped
from vad.models.registry import resolve_model
from vad.models.seam import Concurrency, OpenModel, concurrency, open_model
from vad.render import RenderPool
from vad.render.jail import bwrap_path, jail_info
from vad.rundir import QUARANTINE, RunFolder, write_planned
from vad.runlife import Session, Window, concurrency_fields, writing
from vad.scoring.samples import sample_scorers
from vad.spec import RunSpec
from vad.stopping import GRACE_S
from vad.store import ResponseStore
from vad.tasks import Job, Task, get_task
from vad.tasks.context import Counters, JobContext
from vad.terminal import say


@dataclass
class RunStats:
    """What one invocation of a run did (not the run's totals)."""

    model_calls: int = 0
    cache_hits: int = 0
    written: int = 0
    skipped: int = 0
    status: Counter[str] = field(default_factory=Counter)


class Runner:
    """Runs one spec into one run folder."""

    def __init__(
        self,
        spec: RunSpec,
        root: str | Path | None = None,
        run_name: str | None = None,
        store_path: str | Path | None = None,
        progress: bool = True,
        wait: bool = False,
        grace: float = GRACE_S,
        engine_threads: int | None = None,
    ) -> None:
        self.spec, self.progress, self.wait, self.grace = spec, progress, wait, grace
        self.engine_threads = engine_threads  # None: $VAD_ENGINE_THREADS, else every core
        self.stop = threading.Event()  # set by the first Ctrl-C: no new requests
        self.abandoned = False  # threads still in flight when the run gave up on them
        self.exit_code = 0
        self.folder = RunFolder(runs_dir(root).resolve() / (run_name or spec.folder_name()))
        self.store_path = Path(store_path) if store_path else cache_dir() / "responses.sqlite"
        self.tasks: dict[str, Task] = {name: get_task(name) for name in spec.tasks}
        self.stats = RunStats()
        self._lock = threading.Lock()
        self._bar: Any = None
        # Validation before any work: models, keys, concepts, prompts, renderers, jail.
        self.models = [self._resolve(entry) for entry in spec.models]
        providers = sorted({model.provider for model, _ in self.models})
        for provider in spec.rate_limits:
            if provider not in providers:
                raise SpecError(f"{spec.source}: field 'rate_limits.{provider}' = "
                                f"{spec.rate_limits[provider]!r}: no model of this run uses that "
                                f"provider; valid: {', '.join(providers)}")  # fmt: skip
        for model, _ in self.models:
            check_credentials(model)
        self.plans: dict[str, Concurrency] = {}
        for model, _ in self.models:
            limits = spec.rate_limits.get(model.provider, {})
            own = limits.get("max_connections")
            plan = concurrency(model, own or spec.max_connections, spec.slots, limits.get("rpm"),
                               spec.source, shared=own is None)  # fmt: skip
            if plan.note:
                self._say(f"note: {plan.note}")
            self.plans[model.name] = plan
        if self.engine_threads is None:
            from vad.models.engines import engine_for

            for model, _ in self.models:  # a bad setting of an engine: one line now
                if (engine := engine_for(model.provider)) is not None:
                    engine.check()
        for lang in spec.languages:
            get_language(lang)
        if spec.sandbox:
            bwrap_path()
        ResponseStore(self.store_path).close()  # a damaged store fails here, before the run
        self.pool = RenderPool(sandbox=spec.sandbox, languages=spec.languages)
        self.concepts = load_concepts(spec.levels or None, spec.ids or None, spec.limit,
                                      spec.concept_seed, spec.concept_files)  # fmt: skip
        if not self.concepts:
            raise SpecError(f"{spec.source}: the spec selects no concepts: check levels, ids "
                            "and limit")  # fmt: skip
        if isinstance(spec.limit, dict):
            present = sorted({c.level for c in self.concepts})
            for level in spec.limit:
                if level not in present:
                    raise SpecError(f"{spec.source}: field 'limit.{level}' = "
                                    f"{spec.limit[level]!r}: unknown level; valid: "
                                    f"{', '.join(present)}")  # fmt: skip
        root = self.folder.path.parent  # runs named by the spec are looked up beside this one
        self.jobs = [job for task in self.tasks.values()
                     for job in task.jobs(spec, self.concepts, self.models, root)]  # fmt: skip
        if not self.jobs:
            raise SpecError(
                "the spec makes no samples (a recognize source with no rendered drawings "
                "of these concepts?): check tasks, sources, levels"
            )

    @staticmethod
    def _resolve(entry: Any) -> tuple[ResolvedModel, str]:
        model = resolve_model(entry.name, entry.api_base)
        style = model.default_style if entry.style == "auto" else entry.style
        if style not in model.styles:
            raise SpecError(f"{model.name} takes {' or '.join(model.styles)} prompts, not {style}")
        return model, style

    def run(self, report: Callable[[RunStats], int] | None = None) -> RunStats:
        """Run under the folder's lock: one writer per run folder, whatever happens.

        ``report`` reads the outcome while the lock is still held (a process waiting
        for the folder would otherwise change it first); its value is ``exit_code``.
        """
        with writing(self.folder, self.wait, self._say, "choose another --run-name"):
            stats = self._run_locked()
            if report is not None:
                self.exit_code = report(stats)
            return stats

    def _run_locked(self) -> RunStats:
        existing = self.folder.manifest_path.is_file()
        manifest = self.folder.read_manifest() if existing else None
        if manifest and manifest.get("spec_hash") != self.spec.spec_hash():
            raise SpecError(
                f"{self.folder.path} holds a run of a different spec; choose another --run-name"
            )
        done = self.folder.open()
        if self.folder.quarantined_now:
            self._say(f"warning: {self.folder.quarantined_now} damaged line(s) of "
                      f"{self.folder.samples_path} moved to {QUARANTINE}; their samples "
                      "are redone")  # fmt: skip
        todo = [job for job in self.jobs if not all(i in done for i in job.sample_ids)]
        self.stats.skipped = sum(len(job.sample_ids) for job in self.jobs) - sum(
            len(job.sample_ids) for job in todo
        )
        if manifest is None:
            versions = {k: v for task in self.tasks.values() for k, v in task.versions().items()}
            manifest = provenance.new_manifest(self.spec, versions, self.models)
            manifest["run"] = self.folder.path.name
        planned = self._planned()
        write_planned(self.folder.path, planned)
        manifest.update(planned=len(planned), finished=False)  # until the run gets to its end

        def describe(status: str) -> None:
            self.session.entry.update(model_calls=self.stats.model_calls,
                                      cache_hits=self.stats.cache_hits,
                                      written=self.stats.written)  # fmt: skip
            manifest.update(totals=self.folder.totals(), finished=status == "finished")

        self.session = Session(self.folder, manifest, self._say,
                               (self.pool.close, self.folder.close), describe,
                               todo=len(todo), **concurrency_fields(self.plans))  # fmt: skip
        with self.session:
            if todo:
                versions = self.pool.versions()
                manifest["renderer_versions"] = {k: versions[k] for k in self.spec.languages}
                manifest["sandbox"] = jail_info(self.spec.sandbox)
                self.folder.write_manifest(manifest)
            self._run_jobs(todo, done)
        return self.stats

    def _planned(self) -> list[dict[str, Any]]:
        """One line per sample the run means to write: the fields that place it in its
        task's table, known before any request (see vad.rundir.write_planned)."""
        lines = []
        for job in self.jobs:
            task = self.tasks[job.task]
            base = {**job.record(), "model": job.model.name, "style": job.style,
                    "sample_index": job.sample_index}  # fmt: skip
            keys = task.table.keys if task.table is not None else ()
            extra = {k: job.extra[k] for k in keys if k not in base and k in job.extra}
            for index, sample_id in enumerate(job.sample_ids):
                line = {k: v for k, v in base.items() if k not in ("image", "caption")}
                line.update(extra, sample_id=sample_id)
                if task.round_prompts is not None:
                    line["round"] = index
                lines.append(line)
        return lines

    def _run_jobs(self, todo: list[Job], done: dict[str, dict[str, Any]]) -> None:
        from tqdm import tqdm

        store = ResponseStore(self.store_path)
        total = sum(len([i for i in job.sample_ids if i not in done]) for job in todo)
        self._bar = tqdm(total=total, desc=self.spec.name, unit="sample", mininterval=0.5,
                         disable=not self.progress, dynamic_ncols=True)  # fmt: skip
        try:
            for model, _ in self.models:
                jobs = [job for job in todo if job.model.name == model.name]
                if not jobs:
                    continue
                log = self.folder.path / "logs" / f"engine-{model.served_name}.log"
                with open_model(model, self.plans[model.name], RetryPolicy(**self.spec.retry),
                                self.stop, self._say, log,
                                self.engine_threads) as opened:  # fmt: skip
                    self._run_model(self.session.opened(opened), jobs, store, done)
        finally:
            self._bar.close()
            store.close()

    def _run_model(
        self,
        opened: OpenModel,
        jobs: list[Job],
        store: ResponseStore,
        done: dict[str, dict[str, Any]],
    ) -> None:
        client, connections = opened.client, opened.plan.connections
        counters = Counters()
        ctx = JobContext(self.spec, opened.model, client, store, self.pool, self.folder, done,
                         self._write, counters, sample_scorers)  # fmt: skip
        # Threads beyond the connections keep the renderers busy while models answer.
        # On an error (a dead engine, Ctrl-C) nothing queued starts; jobs in flight end
        # on their own (a dead engine fails them at once) and are redone later.
        workers = connections + self.pool.size
        window = Window(workers, self.stop, self.grace, self._say, "samples", opened.halt)
        try:
            with window:
                for job in jobs:
                    window.submit(self._job, job, ctx, cap=2 * workers)
                window.join()
        finally:
            self.abandoned = self.abandoned or window.abandoned
            self.stats.model_calls += client.calls
            self.stats.cache_hits += counters.cache_hits

    def _job(self, job: Job, ctx: JobContext) -> None:
        # When the run is stopping, this sample is not asked now; the next run does it.
        with contextlib.suppress(Stopped):
            self.tasks[job.task].run(job, ctx)

    def _say(self, line: str) -> None:
        """A line on the terminal that does not tear the progress bar."""
        say(self._bar, line)

    def _write(self, record: dict[str, Any]) -> None:
        self.folder.append(record)
        with self._lock:
            self.stats.written += 1
            self.stats.status[record["status"]] += 1
            ok = self.stats.status.get("ok", 0)
            self._bar.set_postfix(ok=ok, other=self.stats.written - ok, refresh=False)
            self._bar.update(1)
