"""`vad generate`: models x languages x a strategy -> a training set, streaming.

request (store first) -> extract -> render in the jail -> filter (failed, blank,
near-uniform) -> near-duplicate removal against everything kept so far -> the image in
``images/<label>/`` and a record in ``samples.jsonl``. Tar shards of ``shard_size``
images are written whole (to a temporary name, then renamed) as they fill, and the
last one and ``metadata.parquet`` when the run stops, so ``vad train --data OUT`` takes
the folder as it takes an export.

The folder is a run folder (one writer, ``samples.jsonl`` as the source of truth): a
run killed at any point resumes exactly. Every unit of work is a pure function of its
position in the strategy's stream, replies come from the response store, and an image
counts as kept only once its record is written (an image without a record is redone,
a record without its image is redone; a kept image whose bytes are not those its
record names is put back from its shard, or redone).

The pieces: ``budget`` (``--max-cost`` and its reservations), ``vad.dataset.keep`` (judging
and keeping one image, as the exports do), ``files`` (the images and shards on disk),
``tally`` (counts, summary, ``metadata.parquet``) and ``propose`` (``--strategy propose``).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vad import pipeline, provenance
from vad._paths import cache_dir
from vad.concepts import Concept, load_concepts
from vad.dataset.images import load_rgb
from vad.dataset.keep import Judged, Keeper
from vad.errors import SpecError, VadError
from vad.fsutil import label_dir as label_dir  # the class folders of a set
from vad.generate.budget import Budget, RequestMeter, known_prices, prices
from vad.generate.files import SetFiles
from vad.generate.ledger import SpendLedger
from vad.generate.propose import propose
from vad.generate.spec import GenerateSpec as GenerateSpec
from vad.generate.strategies import (
    NEEDS_PROPOSALS,
    NEEDS_SOURCE,
    Item,
    read_proposals,
    strategy_version,
    stream,
    vary_prompt,
    vary_stream,
)
from vad.generate.tally import Tally
from vad.judge.capability import check_sees_images
from vad.judge.scorer import FIDELITY, fidelity_scorer
from vad.judge.scorer import PARAMS as JUDGE_PARAMS
from vad.languages import get_language
from vad.models import ModelClient, ResolvedModel, SamplingParams, check_credentials
from vad.models.client import RetryPolicy, Stopped
from vad.models.registry import resolve_model
from vad.models.seam import concurrency, open_model
from vad.pipeline import Request
from vad.prompts import load_prompts
from vad.render import RenderPool, RenderStatus
from vad.rundir import LOCK, RunFolder, now_iso, read_samples, write_json_atomic
from vad.runlife import Session, Window, concurrency_fields, writing
from vad.scoring.samples import keep, needs_judge, needs_verifier, parse_condition, sample_scorers
from vad.store import ResponseStore, cache_key
from vad.terminal import say

Unit = tuple[Item, ResolvedModel, str, str]  # what to draw, by which model, style, language
MAX_ERRORS_IN_A_ROW = 20  # failed model calls in a row: the provider is down


def normalise_program(code: str) -> str:
    """Code without comments and whitespace runs: equal programs give equal text."""
    code = re.sub(r"<!--.*?-->", "", code, flags=re.S)  # XML comments
    code = re.sub(r"(?m)(^|\s)(#|%|//).*$", r"\1", code)  # line comments
    code = " ".join(code.split())
    return re.sub(r" ?([<>(){}\[\]=,;:/]) ?", r"\1", code)  # spacing around punctuation


class Generator:
    """One generation folder, run until ``spec.n`` images are kept."""

    def __init__(
        self,
        spec: GenerateSpec,
        store_path: str | Path | None = None,
        progress: bool = True,
        sandbox: bool = True,
        wait_lock: bool = False,
        estimating: bool = False,
    ) -> None:
        """Everything the set is made with comes from ``spec`` (its folder: ``spec.out``);
        the arguments are how this process runs it."""
        if not spec.out:
            raise SpecError("a generation needs out: the training set's folder (--out)")
        self.retry = dict(spec.retry)  # RetryPolicy's fields, as a spec's retry: gives them
        self.estimating = estimating
        self.batch_size = spec.batch_size if spec.batch else None
        self.batch_poll = spec.batch_poll
        self.batch_failed: dict[str, str] = {}  # request key -> why, after every try
        self.spec, self.progress, self.wait_lock = spec, progress, wait_lock
        self.max_cost = max_cost = spec.max_cost
        self.request_limit_hit = False  # --max-requests reached before --n images were kept
        self.folder = RunFolder(Path(spec.out).resolve())
        self.ledger = SpendLedger(self.folder.path)
        self.store_path = Path(store_path) if store_path else cache_dir() / "responses.sqlite"
        self.prompts = load_prompts("draw")
        self.models: list[tuple[ResolvedModel, str]] = []
        for name in spec.models:
            model = resolve_model(name, spec.api_base)
            check_credentials(model)
            self.models.append((model, model.default_style))
        for lang in spec.languages:
            get_language(lang)
            for _, style in self.models:
                self.prompts.render(lang, style, {"caption": "x", "width": 1, "height": 1})
        self.judge: ResolvedModel | None = None  # --judge: rates every rendered drawing
        self.judge_client: Any = None
        if spec.judge:
            self.judge = resolve_model(spec.judge, spec.judge_api_base)
            check_credentials(self.judge)
            how = check_sees_images(self.judge, spec.judge_sees_images)
            say(None, f"judge {self.judge.name}: takes images ({how})")
        costs = {m.name: prices(m) for m, _ in self.models} if max_cost is not None else {}
        if self.judge is not None and max_cost is not None:
            costs[self.judge.name] = prices(self.judge)
        self.budget = Budget(max_cost, costs, self.ledger, spec.max_tokens)
        self.concepts = load_concepts(spec.levels, extra_files=spec.concept_files)
        if not self.concepts:
            raise SpecError("the generation selects no concepts: check --level")
        self.keep_if = [parse_condition(c) for c in spec.keep_if]
        if spec.keep_if:
            self._check_keep_if()
        self.items = stream(spec.strategy, self.concepts, spec.seed)  # fails early if unknown
        if spec.strategy in NEEDS_SOURCE:
            self.items = vary_stream(self._source_programs(), spec.seed)
        if spec.proposals and spec.strategy not in NEEDS_PROPOSALS:
            raise SpecError(f"--proposals is for --strategy propose, not {spec.strategy}")
        if spec.strategy in NEEDS_PROPOSALS and spec.shard[1] > 1 and not spec.proposals:
            raise SpecError(
                "--strategy propose with --shard: each part would ask for concepts of its "
                "own, so the parts would not split one piece of work. Propose once "
                "(`vad generate --strategy propose --n 1 --out DIR`), then give every part "
                "--proposals DIR/proposed-concepts.jsonl"
            )
        self.proposed: dict[str, Any] | None = None
        self.abandoned = False  # threads still in flight when Ctrl-C gave up on them
        self._halts: list[Any] = []  # each open engine's stop
        ResponseStore(self.store_path).close()
        # vary redraws programs of the --from set, which may be in any language
        languages = None if spec.strategy == "vary" else spec.languages
        self.pool = RenderPool(sandbox=sandbox, languages=languages)
        self.stop = threading.Event()
        self.closing = False  # set when the stream ends: drawings that finish later are dropped
        self.tally = Tally()
        self._concepts_by_id: dict[str, Concept] | None = None
        self.keeper = Keeper(self.folder.path, spec.size, spec.min_std, spec.max_dominant,
                             spec.dedupe_distance)  # fmt: skip
        self.files = SetFiles(self.folder.path, spec.shard_size, self._say)
        self._lock = threading.Lock()
        self._bar: Any = None
        self._errors_in_a_row = 0
        self._first_error = ""
        self.plans = {m.name: concurrency(m, spec.max_connections, spec.slots, shared=True)
                      for m, _ in self.models}  # fmt: skip
        for plan in self.plans.values():
            if plan.note:
                say(None, f"note: {plan.note}")
        self.started = time.monotonic()

    # -- the run -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        with writing(self.folder, self.wait_lock, self._say, "choose another --out"):
            return self._run_locked()

    def _run_locked(self) -> dict[str, Any]:
        manifest = self._manifest()
        self.files.check_images(self.folder.samples_path)
        done = self.folder.open()
        for record in done.values():
            self._restore(record)
        self.ledger.open(before=self.tally.recorded)
        self.files.remove_orphans(self.tally.kept)
        self.session = Session(self.folder, manifest, self._say,
                               (self.pool.close, self.folder.close),
                               lambda status: self._finish(manifest),
                               **concurrency_fields(self.plans))  # fmt: skip
        with self.session:
            if len(self.tally.kept) < self.spec.n:
                self.pool.versions()  # the jail starts now: a broken one stops before a request
            self._stream(done)
            if len(self.tally.kept) < self.spec.n:
                self.session.status = "stopped"
                if self.budget.hit:
                    self.session.status = "budget"
                elif self.request_limit_hit:
                    self.session.status = "request_limit"
        return self.summary()

    def _manifest(self) -> dict[str, Any]:
        settings = self.spec.settings()
        if self.folder.manifest_path.is_file():
            manifest = self.folder.read_manifest()
            if manifest.get("settings_hash") != self.spec.settings_hash():
                raise SpecError(
                    f"{self.folder.path} holds a generation made with other settings: "
                    f"{_differences(manifest.get('settings'), settings)}; give the same "
                    "settings to resume it, or choose another --out"
                )
            made = [m.get("name") for m in manifest.get("models") or [] if isinstance(m, dict)]
            now = [m.name for m, _ in self.models]
            if made and made != now:  # an alias that now names another model
                raise SpecError(
                    f"{self.folder.path} was made by {', '.join(map(str, made))}; --model now "
                    f"names {', '.join(now)} (an alias now names another model): its "
                    "images would mix two models; choose another --out"
                )
            return manifest
        if any(p.name != LOCK for p in self.folder.path.iterdir()):
            raise SpecError(
                f"{self.folder.path} exists and is not a generation: choose another --out"
            )
        return {
            "kind": "generation",
            "settings": settings,
            "settings_hash": self.spec.settings_hash(),
            "strategy_version": strategy_version(),
            "prompt_versions": {"draw": self.prompts.version},
            "models": [
                {"name": m.name, "provider": m.provider, "style": s} for m, s in self.models
            ],
            "git": provenance.git_commit(),
            "versions": provenance.package_versions(),
            "started_at": now_iso(),
        }

    def _source_programs(self) -> list[dict[str, Any]]:
        """The kept drawings (with code) of the --from set, in its file order."""
        if not self.spec.source:
            raise SpecError(f"strategy {self.spec.strategy} needs --from DIR: a set made by "
                            "vad generate whose drawings it varies")  # fmt: skip
        if any(style != "chat" for _, style in self.models):
            raise SpecError("strategy vary needs chat models (it shows them their own code)")
        source = Path(self.spec.source)
        if not (source / "samples.jsonl").is_file():
            raise SpecError(f"--from {source}: not a set made by vad generate (no samples.jsonl)")
        kept = [r for r in read_samples(source / "samples.jsonl")
                if r.get("status") == "ok" and isinstance(r.get("code"), str)
                and r.get("language") in self.spec.languages and r.get("id")]  # fmt: skip
        if not kept:
            raise SpecError(f"--from {source}: no kept drawing in {', '.join(self.spec.languages)}")
        return kept

    def _units(self) -> Iterator[Unit]:
        index, count = self.spec.shard
        for item in self.items:
            if count > 1 and _part(item.key, count) != index:
                continue  # another part's: a pure function of the item, mixing concepts
            for model, style in self.models:
                for lang in self.spec.languages:
                    if item.extra.get("language", lang) == lang:  # a variation keeps its own
                        yield item, model, style, lang

    @staticmethod
    def unit_id(item: Item, model: ResolvedModel, lang: str) -> str:
        return f"{item.key}:{model.name}:{lang}"

    def _stream(self, done: dict[str, dict[str, Any]]) -> None:
        from tqdm import tqdm

        spec = self.spec
        limit = spec.max_requests or 20 * spec.n
        self._bar = tqdm(
            total=spec.n,
            initial=min(len(self.tally.kept), spec.n),
            unit="img",
            desc="kept",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        store = ResponseStore(self.store_path)
        workers = sum(plan.connections for plan in self.plans.values()) + self.pool.size
        asked = 0
        window: Window | None = None
        try:
            with contextlib.ExitStack() as models:
                clients = self._open_models(models)
                if spec.strategy in NEEDS_PROPOSALS:
                    if spec.proposals:
                        self.concepts = read_proposals(Path(spec.proposals))
                    else:
                        self.concepts, self.proposed = propose(
                            self.models, clients, store, spec.temperature, spec.seed,
                            self.budget, self.folder.path, self._say)  # fmt: skip
                    self.items = stream(spec.strategy, self.concepts, spec.seed)
                window = Window(workers, self.stop, spec.grace, self._say, "drawings",
                                self._halt)  # fmt: skip
                with window:
                    for item, model, style, lang in self._work(done, store):
                        if len(self.tally.kept) >= spec.n or self.stop.is_set():
                            break
                        if asked >= limit and self.estimating:
                            break  # enough to extrapolate from
                        if asked >= limit:  # what is in flight still lands
                            self.request_limit_hit = True
                            break
                        reserve = self._reserve(item, model, style, lang, store)
                        while reserve is None and window.wait_one():  # in flight may cost less
                            reserve = self._reserve(item, model, style, lang, store)
                        if reserve is None:
                            self.budget.hit = True
                            break
                        asked += 1
                        unit = (item, model, style, lang)
                        # near the end, no more in flight than twice the images still
                        # wanted: what finishes after --n is reached is paid and not kept
                        cap = min(workers, max(1, 2 * (spec.n - len(self.tally.kept))))
                        window.submit(self._unit, unit, clients[model.name], store, reserve,
                                      cap=cap)  # fmt: skip
                    window.join()
        finally:
            self.abandoned = window is not None and window.abandoned
            with self._lock:  # what finishes from here on is not kept
                self.closing = True
            self._bar.close()
            store.close()

    def _halt(self) -> None:
        for halt in self._halts:
            halt()

    def _worst(
        self, item: Item, model: ResolvedModel, style: str, lang: str, store: ResponseStore
    ) -> float:
        request = self._request(item, model, style, lang)
        return self.budget.worst(model.name, request.prompt, request.key, store)

    def _reserve(
        self, item: Item, model: ResolvedModel, style: str, lang: str, store: ResponseStore
    ) -> float | None:
        """Set aside the most a request can cost; None when the budget cannot cover it."""
        request = self._request(item, model, style, lang)
        return self.budget.reserve(model.name, request.prompt, request.key, store)

    def _work(
        self, done: dict[str, dict[str, Any]], store: ResponseStore
    ) -> Iterator[tuple[Item, ResolvedModel, str, str]]:
        """The units still to do; with ``--batch``, their replies fetched a chunk at a time
        through the batch API first (so that each unit then reads its reply from the store)."""
        units = (u for u in self._units() if self.unit_id(u[0], u[1], u[3]) not in done)
        if not self.batch_size:
            yield from units
            return
        from vad.models.batch import BatchRequest, batch_client

        clients = {
            m.name: batch_client(
                m,
                self.folder.path / "batches.jsonl",
                store,
                known_prices(m),
                self.batch_poll,
                self._say,
                paid=lambda key, usd, ref: self.ledger.add(key, usd, "batch", ref),
            )
            for m, _ in self.models
        }
        while not self.stop.is_set() and len(self.tally.kept) < self.spec.n:
            wanted = max(8, 2 * (self.spec.n - len(self.tally.kept)))
            chunk = list(itertools.islice(units, min(self.batch_size, wanted)))
            if self.max_cost is not None:
                chunk = chunk[: self.budget.affordable(self._worst(*u, store) for u in chunk)]
                if not chunk:
                    self.budget.hit = True
                    return
            if not chunk:
                return
            for model, _ in self.models:
                requests = []
                for item, m, style, lang in chunk:
                    if m.name == model.name:
                        request = self._request(item, m, style, lang)
                        requests.append(BatchRequest(request.key, request.prompt,
                                                     request.params))  # fmt: skip
                if requests:
                    self.batch_failed.update(clients[model.name].run(requests))
            yield from chunk

    def _open_models(self, stack: contextlib.ExitStack) -> dict[str, ModelClient]:
        """A client per model (engines started for embedded ones), closed with ``stack``."""
        # Under a budget every attempt is a request that may be billed: one per unit
        # (the unit is asked again by a later run), each covered by its reservation.
        retry = {**self.retry, "max_retries": 0} if self.max_cost is not None else self.retry
        clients = {}
        for model, _ in self.models:
            log = self.folder.path / "logs" / f"engine-{model.served_name}.log"
            opened = stack.enter_context(open_model(model, self.plans[model.name],
                                                    RetryPolicy(**retry), self.stop, self._say,
                                                    log, self.spec.engine_threads))  # fmt: skip
            clients[model.name] = self.session.opened(opened).client
            self._halts.append(opened.halt)
        if self.judge is not None:  # asked as each drawing renders, batch or not
            plan = concurrency(self.judge, self.spec.max_connections)
            opened = stack.enter_context(open_model(self.judge, plan, RetryPolicy(**retry),
                                                    self.stop, self._say))  # fmt: skip
            self.judge_client = opened.client
        return clients

    # -- one unit ------------------------------------------------------------------------
    def _unit(
        self, unit: Unit, client: ModelClient, store: ResponseStore, reserved: float = 0.0
    ) -> None:
        """Ask (store first), render, judge and record one unit; give back its reservation."""
        try:
            self._ask_and_judge(*unit, client, store, reserved)
        finally:
            self.budget.release(reserved)

    def _request(self, item: Item, model: ResolvedModel, style: str, lang: str) -> Request:
        spec = self.spec
        if item.strategy == "vary":
            prompt = vary_prompt(item, spec.width, spec.height)
        else:
            values = {"caption": item.caption, "width": spec.width, "height": spec.height}
            prompt = self.prompts.render(lang, style, values)
        params = SamplingParams(spec.temperature, spec.max_tokens, spec.seed + item.sample_index)
        return Request(model, prompt, params, item.sample_index)

    def _ask_and_judge(
        self,
        item: Item,
        model: ResolvedModel,
        style: str,
        lang: str,
        client: ModelClient,
        store: ResponseStore,
        reserved: float,
    ) -> None:
        spec = self.spec
        request = self._request(item, model, style, lang)
        prompt, key = request.prompt, request.key
        record: dict[str, Any] = {
            "sample_id": self.unit_id(item, model, lang),
            "strategy": item.strategy,
            "strategy_version": strategy_version(),
            "caption": item.caption,
            "label": item.label,
            "level": item.level,
            "sources": list(item.sources),
            "model": model.name,
            "language": lang,
            "sample_index": item.sample_index,
            "prompt_version": prompt.version,
            "request_key": key,
            "image": None,
            **(
                {"item": {k: v for k, v in item.extra.items() if k != "program"}}
                if item.extra
                else {}
            ),
        }
        client_or_none = None if self.batch_size else client  # a batch asked already
        work = self.folder.scratch / f"{cache_key({'id': record['sample_id']})[:16]}.png"
        try:
            drawing = pipeline.draw(store, client_or_none, request, lang, self.pool.render,
                                    (spec.width, spec.height), work,
                                    RequestMeter(self.budget, reserved, self.stop, self._say),
                                    self._scorers(item, store))  # fmt: skip
        except Stopped:
            return  # the run is stopping: not asked now (a later run asks it)
        except BaseException:
            self.stop.set()  # a rejected key, a dead engine, no jail: nothing more is sent
            raise
        asked = drawing.asked
        if asked.reply is None:
            if client_or_none is None:  # the batch did not answer it
                if key in self.batch_failed:
                    why = f"{model.name}: the batch line failed: {self.batch_failed[key]}"
                    self._write({**record, "status": "model_error", "error": why})
                return  # not answered yet: a later batch asks again
            bound = {"cost_bound_usd": reserved} if reserved else {}
            self._write({**record, "status": "model_error", "error": str(asked.error)[:500],
                         **bound})  # fmt: skip
            return
        reply, cached = asked.reply, asked.cached
        if reply.cost_usd is None and not cached:  # price unknown: the bound counts as spent
            record["cost_bound_usd"] = reserved
        record.update(
            cached=cached,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cost_usd=reply.cost_usd,
            code=drawing.code,
        )
        result = drawing.result
        assert result is not None
        if drawing.code is None:
            self._write({**record, "status": "no_code", "reason": result.reason})
            return
        record["program_hash"] = cache_key({"p": normalise_program(drawing.code)})[:16]
        if not result.ok:
            if result.status is RenderStatus.TOO_LARGE:
                record["code"] = None  # not worth keeping: it may be enormous
            self._write({**record, "status": str(result.status), "reason": result.reason[:300]})
            return
        try:
            judged = self.keeper.judge(load_rgb(work))
        except Exception as exc:  # a PNG the jail made that PIL cannot read
            self._write({**record, "status": "runtime_error", "reason": f"unreadable: {exc}"})
            return
        finally:
            with contextlib.suppress(OSError):
                work.unlink()
        if isinstance(judged, str):
            self._write({**record, "status": "blank", "reason": judged})
            return
        failed = ((drawing.scores or {}).get(FIDELITY) or {}).get("failed")
        if failed:  # the judge's call failed: not scored (a later run asks it again)
            assert self.judge is not None
            self._write({**record, "status": "model_error",
                         "error": f"judge {self.judge.name}: {failed}"})  # fmt: skip
            return
        if drawing.scores:
            record["scores"] = drawing.scores
        if self.keep_if:
            why = keep(self.keep_if, drawing.scores)
            if why is not None:
                self._write({**record, "status": "rejected", "reason": why[:300]})
                return
        self._judge(record, judged)

    def _check_keep_if(self) -> None:
        """--keep-if needs drawings the scores can judge: a judge's rating needs --judge;
        the verifier's scores are refused for a set none of whose concepts the verifier
        checks (every drawing would be paid for and rejected), and it says how many
        cannot be checked (those are rejected)."""
        what = ", ".join(self.spec.keep_if)
        if needs_judge(self.keep_if) and self.judge is None:
            raise SpecError(f"--keep-if {what}: fidelity is a vision judge's rating: give "
                            "--judge MODEL (a model that takes images)")  # fmt: skip
        if not needs_verifier(self.keep_if):
            return
        can = sum(1 for c in self.concepts if sample_scorers(c))
        if self.spec.strategy not in ("vad",) or can == 0:
            raise SpecError(
                f"--keep-if {what}: the shapes verifier checks drawings of shape concepts "
                f"only (strategy vad, --level shapes); {can} of {len(self.concepts)} concepts "
                f"of this generation (strategy {self.spec.strategy}) can be checked")  # fmt: skip
        if can < len(self.concepts):
            self._say(f"--keep-if {what}: {len(self.concepts) - can} of {len(self.concepts)} "
                      "concepts cannot be verified (not shape concepts): their drawings are "
                      "rejected")  # fmt: skip

    def _scorers(self, item: Item, store: ResponseStore) -> dict[str, pipeline.SampleScorer]:
        """The per-sample scorers of an item: the verifier's, of an item drawn from one
        shape concept (vad.scoring.samples), and the --judge's rating."""
        scorers: dict[str, pipeline.SampleScorer] = {}
        if len(item.sources) == 1:
            by_id = self._concepts_by_id
            if by_id is None or len(by_id) != len(self.concepts):
                by_id = self._concepts_by_id = {c.id: c for c in self.concepts}
            concept = by_id.get(item.sources[0])
            if concept is not None:
                scorers.update(sample_scorers(concept))
        if self.judge is not None:
            scorers[FIDELITY] = fidelity_scorer(self.judge, self.judge_client, store,
                                                item.caption,
                                                lambda r: self._metered(store, r))  # fmt: skip
        return scorers

    @contextlib.contextmanager
    def _metered(self, store: ResponseStore, request: Request) -> Iterator[RequestMeter]:
        """The meter of a judge's request; when the budget cannot cover it, the run stops
        (the drawing is not recorded: a later run with a larger budget scores it)."""
        reserved = self.budget.reserve(request.model.name, request.prompt, request.key,
                                       store, JUDGE_PARAMS.max_tokens)  # fmt: skip
        if reserved is None:
            self.budget.hit = True
            self.stop.set()
            raise Stopped("the budget cannot cover the judge's request")
        try:
            yield RequestMeter(self.budget, reserved, self.stop, self._say)
        finally:
            self.budget.release(reserved)

    def _judge(self, record: dict[str, Any], judged: Judged) -> None:
        """Near-duplicate check and keeping, under one lock: the order decides."""
        record["phash"] = judged.phash_hex
        with self._lock:
            if len(self.tally.kept) >= self.spec.n or self.closing:
                # surplus, or late (the stream is closed, the set being described): not
                # written, so a later run asks it again (a cache hit)
                return
            match = self.keeper.duplicate(judged)
            if match >= 0:
                dup = self.tally.kept[match]["sample_id"] if match < len(self.tally.kept) else "?"
                self._append(
                    {**record, "status": "duplicate", "reason": f"near-duplicate of {dup}"}
                )
                return
            kept = self.keeper.keep(judged, record["sample_id"], record["label"])
            record.update(id=kept.id, sha256=kept.sha256, thumb=judged.thumb_hex, image=kept.file)
            self._append({**record, "status": "ok"})
            if len(self.tally.kept) % self.spec.shard_size == 0:
                self.files.write_shards(self.tally.kept, final=False)

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._append(record)

    def _append(self, record: dict[str, Any]) -> None:
        """Write one record (under ``_lock``) and count it."""
        if record["status"] == "model_error":
            self._errors_in_a_row += 1
            self._first_error = self._first_error or str(record.get("error"))
            if self._errors_in_a_row >= MAX_ERRORS_IN_A_ROW:
                self.stop.set()
                raise VadError(
                    f"{MAX_ERRORS_IN_A_ROW} model calls in a row failed; first: "
                    f"{self._first_error[:300]}"
                )
        else:
            self._errors_in_a_row = 0
        self.folder.append(record)
        self.tally.add(record)
        if self._bar is not None:
            self._bar.n = min(len(self.tally.kept), self.spec.n)
            self._bar.set_postfix_str(self._postfix(), refresh=True)

    def _postfix(self) -> str:
        hours = max(time.monotonic() - self.started, 1e-6) / 3600
        made = sum(self.tally.status.values())
        return (
            f"rejected {self.tally.rejections()} | {made / hours:,.0f} drawings/h | "
            f"{self.tally.tokens:,} tokens | ${self.ledger.total:.4f}"
        )

    def _restore(self, record: dict[str, Any]) -> None:
        """A record of an earlier session: count it, and index a kept image."""
        if record["status"] == "ok":
            self.keeper.restore(record)
        self.tally.add(record)

    # -- outputs -------------------------------------------------------------------------
    def _finish(self, manifest: dict[str, Any]) -> None:
        """The set's last shard, its table and its summary, as the session ends."""
        shards = self.files.write_shards(self.tally.kept, final=True)
        self.tally.write_metadata(self.folder.path, shards, self.spec.shard_size)
        summary = self.summary()
        manifest["totals"] = summary
        if self.proposed is not None:
            manifest["proposed_concepts"] = self.proposed
        write_json_atomic(self.folder.path / "generate.json", summary)

    def summary(self) -> dict[str, Any]:
        return self.tally.summary(self.spec.n, self.ledger.total, self.max_cost,
                                  self.budget.hit, self.request_limit_hit)  # fmt: skip

    def _say(self, line: str) -> None:
        say(self._bar, line)


def _differences(before: Any, now: dict[str, Any]) -> str:
    """The settings that differ, each with its flag: "--lang was svg, now matplotlib"."""

    if not isinstance(before, dict):
        return "the folder does not record them"

    def shown(value: Any) -> str:
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value) or "(none)"
        return "(none)" if value is None else str(value)

    def same(a: Any, b: Any) -> bool:
        return json.dumps(a, default=str) == json.dumps(b, default=str)

    names = [k for k in sorted(set(before) | set(now)) if not same(before.get(k), now.get(k))]
    if not names:
        return "the same values, recorded by another version of vad"
    parts = []
    for name in names:
        known = name in GenerateSpec.model_fields
        label = (
            (GenerateSpec.flag_of(name) or name)
            if known
            else name.replace("_sha256", " (file contents)")
        )
        if name.endswith("_sha256"):
            parts.append(f"{label} changed")
        else:
            parts.append(f"{label} was {shown(before.get(name))}, now {shown(now.get(name))}")
    return "; ".join(parts)


def _part(key: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % count
