"""``vad judge``: vision models judge the drawings runs rendered; one line per judgement.

For every judge, every rendered drawing of the runs is asked the recognition and the
fidelity question, and every pair of drawings of one concept, language and sample
index by two models the pairwise question, in both orders (the order a judge sees two
images in sways it: a pair whose two answers disagree is a tie). Each judgement is one
line of ``judgements.jsonl`` in the drawing's run folder (a pair's: in the folder of the
run of its sample whose (run name, sample id) sorts first, so that ``vad judge A B`` and
``vad judge B A`` write a pair to the same file, once). A drawing whose level offers no
other caption gets no recognition question (one option is always right). Every line
records the settings that change a reply (judge, prompt version, temperature,
max_tokens, seed, choices, api_base) and names its sample(s) by ``sample_id``: line
numbers change when a resumed run rewrites samples.jsonl.

The same policies as the rest of vad:

- judges that cannot take images are refused before any request (``capability``);
- every request goes through ``vad.pipeline.ask``: a reply comes from the response
  store when it is there and is stored before it is used, so a second ``vad judge``
  over the same runs asks nothing, and a judgement already in the file is not written
  again;
- a ``kill -9`` loses at most the judgements in flight (their replies, if they came,
  are in the store); the next run cuts a torn last line off and goes on;
- the run folders' writer locks are held while judging (one writer per folder);
- ``--max-cost`` stops before a request could pass it, and when a reply costs more
  than its bound (``budget``); replies already in the store are still used;
- a call that fails is no judgement (a re-run asks again); a reply that cannot be read
  is a judgement, recorded as unparsable.

With ``batch`` the requests go through the judge provider's batch API (half price;
``vad.models.batch``) in chunks of ``batch_size``: each chunk's replies land in the
store, then its judgements are written from the store. The batch log lies beside the
response store (``<store>.judge-batches.jsonl``), so any later ``vad judge`` on that
store collects a batch a killed one submitted instead of paying for it again; a lock
beside it lets one process at a time submit and collect.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vad import pipeline
from vad._paths import cache_dir, runs_dir
from vad.errors import SpecError, VadError
from vad.generate.budget import prices
from vad.judge import prompts
from vad.judge.budget import JudgeBudget
from vad.judge.capability import check_sees_images
from vad.judge.pairs import Drawing, caption_pools, find_drawings, find_pairs
from vad.judge.parsing import parse_choice, parse_letter, parse_score
from vad.models import Reply, ResolvedModel, SamplingParams, check_credentials, resolve_model
from vad.models.client import RetryPolicy, Stopped, Unsent
from vad.models.seam import concurrency, open_model
from vad.prompts import Prompt
from vad.rundir import RunFolder, now_iso
from vad.runlife import Window, writing
from vad.scoring.judgement_file import Identity, JudgementFile, identity
from vad.store import ResponseStore

Say = Callable[[str], None]


@dataclass(frozen=True)
class JudgeSettings:
    """What ``vad judge`` is asked to do (its flags)."""

    runs: tuple[str, ...]
    judges: tuple[str, ...]
    kinds: tuple[str, ...] = prompts.KINDS
    api_base: str | None = None
    choices: int = prompts.DEFAULT_CHOICES
    seed: int = 0
    temperature: float = 0.0
    max_tokens: int = 96
    max_cost: float | None = None
    sees_images: bool = False  # --judge-sees-images: asserted where it cannot be told
    cache: str | None = None
    runs_dir: str | None = None
    connections: int = 4
    wait: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    batch: bool = False  # --batch: through the provider's batch API
    batch_size: int = 1000  # requests per batch
    batch_poll: float = 30.0  # seconds between polls

    def check(self) -> None:
        """Every value in range, or one line naming the flag."""
        unknown = [k for k in self.kinds if k not in prompts.KINDS]
        if unknown or not self.kinds:
            raise SpecError(f"command line: --kinds {','.join(self.kinds)}: choose among "
                            f"{', '.join(prompts.KINDS)}")  # fmt: skip
        if not self.judges:
            raise SpecError("command line: --judge is missing: give a vision model")
        if not 2 <= self.choices <= 26:
            raise SpecError(f"command line: --choices {self.choices}: must be 2 to 26")
        if not 0 <= self.temperature <= 2:
            raise SpecError(f"command line: --temperature {self.temperature:g}: must be 0 to 2")
        if not 1 <= self.max_tokens <= 4096:
            raise SpecError(f"command line: --max-tokens {self.max_tokens}: must be 1 to 4096")
        if self.max_cost is not None and not self.max_cost >= 0:
            raise SpecError(f"command line: --max-cost {self.max_cost:g}: must be >= 0")
        if not 1 <= self.batch_size <= 50_000:
            raise SpecError(f"command line: --batch-size {self.batch_size}: must be 1 to 50000")
        if not 0 < self.batch_poll <= 3600:
            raise SpecError(f"command line: --batch-poll {self.batch_poll:g}: must be more "
                            "than 0 and at most 3600 seconds")  # fmt: skip
        if not 1 <= self.connections <= 256:
            raise SpecError(f"command line: --max-connections {self.connections}: must be "
                            "1 to 256")  # fmt: skip


@dataclass
class Summary:
    """What one ``vad judge`` did."""

    judged: int = 0  # judgements written now
    from_store: int = 0  # of those, every reply from the response store
    calls: int = 0  # model calls made (batch lines answered included)
    batched: int = 0  # of those, lines answered by a batch
    earlier: int = 0  # lines of an earlier (killed) invocation's batches, collected now
    already: int = 0  # judgements found in judgements.jsonl, not made again
    failed: int = 0  # judgements whose call failed (a re-run asks again)
    unparsable: int = 0  # judgements written whose reply could not be read
    cost_usd: float = 0.0  # of the calls made now (unknown prices not included)
    unpriced: int = 0  # calls whose price is unknown
    spent_usd: float = 0.0  # what the budget counts (unknown prices at their bound)
    stopped_at_budget: bool = False
    skipped_budget: int = 0  # judgements not made because of --max-cost
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        cost = f"${self.cost_usd:.6g}"
        if self.unpriced:
            cost = f"at least {cost} ({self.unpriced} calls of unknown price)"
        via = f" ({self.batched} in batches)" if self.batched else ""
        if self.earlier:
            via += f", {self.earlier} replies of an earlier run's batches collected"
        return (f"judged {self.judged} ({self.from_store} from store, {self.unparsable} "
                f"unparsable), calls {self.calls}{via}, cost {cost}; already judged "
                f"{self.already}, failed {self.failed}")  # fmt: skip


@dataclass
class Question:
    """One judgement to make: its requests (two for a pair: both orders), the fields
    known before asking, and how its replies become the answer's fields."""

    kind: str
    judge: ResolvedModel
    out: JudgementFile
    requests: list[pipeline.Request]
    record: dict[str, Any]
    read: Callable[[list[str]], dict[str, Any]]

    @property
    def identity(self) -> Identity:
        found = identity({**self.record, "request_keys": [r.key for r in self.requests]})
        assert found is not None
        return found


class Judging:
    """One invocation of ``vad judge`` (``run`` returns its summary)."""

    def __init__(self, settings: JudgeSettings, say: Say) -> None:
        settings.check()
        self.settings, self.say = settings, say
        self.params = SamplingParams(settings.temperature, settings.max_tokens, None)
        judges = [resolve_model(name, settings.api_base) for name in settings.judges]
        self.judges = list({j.name: j for j in judges}.values())  # one judge named twice: once
        for judge in self.judges:  # before anything is read or asked
            check_credentials(judge)
            how = check_sees_images(judge, settings.sees_images)
            say(f"judge {judge.name}: takes images ({how})")
        judge_prices = {}
        if settings.max_cost is not None:
            judge_prices = {j.name: prices(j) for j in self.judges}  # unknown: refused
        self.budget = JudgeBudget(settings.max_cost, judge_prices, settings.max_tokens)
        self.summary = Summary()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._batched: set[str] = set()  # request keys a batch of this invocation answered
        self._batch_failed: dict[str, str] = {}  # request key -> why its batch line failed
        self._reserved: dict[str, float] = {}  # request key -> its bound, while in a batch
        self._earlier = False  # collecting batches an earlier invocation submitted
        if settings.batch:  # a judge whose provider has no batch API: before any request
            from vad.models.batch import check_batch_api

            for judge in self.judges:
                check_batch_api(judge)

    def run(self) -> Summary:
        s = self.settings
        root = runs_dir(s.runs_dir)
        drawings, warnings = find_drawings(list(s.runs), root)
        self.summary.warnings += warnings
        if not drawings:
            raise VadError(f"no rendered drawings in {', '.join(s.runs)} (only records of "
                           "tasks that draw, with an image, are judged)")  # fmt: skip
        folders = list(dict.fromkeys(d.folder for d in drawings))
        files = {folder: JudgementFile(folder) for folder in folders}
        store_path = Path(s.cache) if s.cache else cache_dir() / "responses.sqlite"
        store = ResponseStore(store_path)
        try:
            with contextlib.ExitStack() as stack:
                for folder, judgements in files.items():
                    stack.enter_context(writing(RunFolder(folder), s.wait, self.say,
                                                "run vad judge once it is done"))  # fmt: skip
                    judgements.open()
                    if judgements.repaired:
                        self.say(f"{judgements.path}: a torn last line was cut off (its "
                                 "judgement is made again)")  # fmt: skip
                questions = self._questions(drawings, files)
                for judge in self.judges:
                    if s.batch:
                        self._batches(store, store_path, judge, questions(judge))
                        continue
                    plan = concurrency(judge, s.connections)
                    opened = stack.enter_context(
                        open_model(judge, plan, s.retry, self.stop, self.say)
                    )
                    self._ask_all(store, opened.client, questions(judge))
        finally:
            store.close()
        self.summary.spent_usd = self.budget.spent
        self.summary.stopped_at_budget = self.budget.hit
        return self.summary

    def _ask_all(self, store: ResponseStore, client: Any, questions: Iterator[Question],
                 sent: set[str] | None = None) -> None:  # fmt: skip
        """Judge ``questions`` (those already judged counted, not asked); ``sent``: the
        request keys a batch was just asked (a question of those is judged, or failed,
        whatever the budget says now)."""
        with Window(self.settings.connections, self.stop, 10.0, self.say, "judgements") as window:
            for question in questions:
                if question.identity in question.out.done:
                    self.summary.already += 1
                    continue
                if self.stop.is_set():
                    self.summary.skipped_budget += self.budget.hit
                    continue
                batched = sent is not None and all(r.key in sent or _stored(store, r.key)
                                                   for r in question.requests)  # fmt: skip
                if self.budget.hit and not batched and not _stored(store, question):
                    self.summary.skipped_budget += 1  # (a stored reply is free)
                    continue
                window.submit(self._judge, store, client, question,
                              cap=2 * self.settings.connections)  # fmt: skip
            window.join()

    def _batches(self, store: ResponseStore, store_path: Path, judge: ResolvedModel,
                 questions: Iterator[Question]) -> None:  # fmt: skip
        """Ask through the batch API, a chunk at a time: the chunk's requests not in the
        store go in one batch (under --max-cost, the questions it covers at full price,
        each whole), then its judgements are written from the store. Batches an earlier
        (killed) invocation submitted are collected first: their replies land in the
        store, paid by that invocation, not counted against this one's budget."""
        from vad.generate.budget import known_prices
        from vad.models.batch import batch_client

        log = store_path.with_name(store_path.name + ".judge-batches.jsonl")
        with _locked(log.with_name(log.name + ".lock"), self.say):
            client = batch_client(judge, log, store, known_prices(judge),
                                  self.settings.batch_poll, self.say,
                                  paid=self._batch_paid)  # fmt: skip
            self._earlier = True
            for batch_id in client.outstanding():
                client.collect(batch_id)
            self._earlier = False
            for chunk in _chunks(self._not_done(questions), self.settings.batch_size):
                if self.budget.overran:
                    self.summary.skipped_budget += sum(not _stored(store, q) for q in chunk)
                    self._ask_all(store, None, iter([q for q in chunk if _stored(store, q)]))
                    continue
                requests = self._batch_requests(store, chunk)
                if requests:
                    client.run(requests)
                    self._batch_failed.update(client.failures)
                # the lines answered were paid one by one (_batch_paid); a line that
                # failed is not billed
                self.budget.release(sum(self._reserved.pop(r.key, 0.0) for r in requests))
                self._ask_all(store, None, iter(chunk), {r.key for r in requests})

    def _not_done(self, questions: Iterator[Question]) -> Iterator[Question]:
        for question in questions:
            if question.identity in question.out.done:
                self.summary.already += 1
            else:
                yield question

    def _batch_requests(self, store: ResponseStore, chunk: list[Question]) -> list[Any]:
        """The chunk's requests that are not in the store, each once, each with its bound
        set aside in ``_reserved``: a question's requests all, or none (a pair is not
        half asked); the questions the budget cannot cover are left out (not judged now)."""
        from vad.models.batch import BatchRequest

        requests: list[BatchRequest] = []
        for question in chunk:
            todo = {r.key: r for r in question.requests if r.key not in self._reserved
                    and pipeline.stored_reply(store.get(r.key)) is None}  # fmt: skip
            bounds: dict[str, float] = {}
            for key, r in todo.items():
                bound = self.budget.reserve(r.model.name, r.prompt)
                if bound is None:
                    self.budget.release(sum(bounds.values()))
                    return requests
                bounds[key] = bound
            self._reserved.update(bounds)
            requests += [BatchRequest(r.key, r.prompt, r.params) for r in todo.values()]
        return requests

    def _batch_paid(self, key: str, usd: float | None, batch_id: str) -> None:
        """A batch line was answered (before its reply is stored). A line of an earlier
        invocation's batch was that one's spending; one of this invocation's is paid
        here, and one that cost more than its bound stops the budget (``overran``)."""
        if self._earlier:
            with self._lock:
                self.summary.earlier += 1
            return
        bound = self._reserved.get(key, 0.0)
        if self.budget.pay(usd, bound) and usd is not None:
            self.say(f"stopping at the budget: a batch line cost ${usd:.6f}, more than the "
                     f"${bound:.6f} a request was bounded at; the budget is not trusted "
                     "further: no new batch is sent")  # fmt: skip
        with self._lock:
            self._batched.add(key)
            self.summary.calls += 1
            self.summary.batched += 1
            if usd is not None:
                self.summary.cost_usd += usd
            else:
                self.summary.unpriced += 1

    def _judge(self, store: ResponseStore, client: Any, question: Question) -> None:
        """Ask a question's requests (the store first), then write its judgement."""
        replies: list[pipeline.Asked] = []
        for request in question.requests:
            cached = pipeline.stored_reply(store.get(request.key)) is not None
            reserved = 0.0 if cached or client is None else self.budget.reserve(
                request.model.name, request.prompt)  # fmt: skip
            if reserved is None:  # the budget cannot cover it: no judgement
                with self._lock:
                    self.summary.skipped_budget += 1
                return
            try:
                asked = pipeline.ask(store, client, request)
            except Unsent:  # the run is stopping: no judgement now (a later run asks it)
                self.budget.release(reserved)
                return
            except Stopped:
                self.budget.settle(reserved, None)  # it may have been sent and billed
                return
            except BaseException:
                self.budget.settle(reserved, None)
                raise
            if not asked.cached and client is not None:
                if self.budget.settle(reserved, asked.reply) and asked.reply is not None:
                    self.say(f"stopping at the budget: a reply of {question.judge.name} cost "
                             f"${asked.reply.cost_usd:.6f}, more than the ${reserved:.6f} a "
                             "request was bounded at; the budget is not trusted further: no "
                             "new request is sent (those in flight finish)")  # fmt: skip
                self._paid(asked.reply)
            if asked.reply is None:
                why = asked.error
                if client is None:  # a batch did not answer it
                    failed = self._batch_failed.get(request.key)
                    why = (f"a batch line failed: {failed}" if failed else "not answered "
                           "by the batch (it ended before reaching it)")  # fmt: skip
                    why += "; a later run asks again"
                self.say(f"judge {question.judge.name}: {why}")
                with self._lock:
                    self.summary.failed += 1
                return
            replies.append(asked)
        record = {**question.record, **question.read([a.reply.text for a in replies if a.reply])}
        record.update(_usage([a.reply for a in replies if a.reply is not None]))
        batched = any(a.key in self._batched for a in replies)
        record.update(cached=all(a.cached for a in replies) and not batched, batch=batched,
                      created_at=now_iso())  # fmt: skip
        question.out.append(record)
        with self._lock:
            self.summary.judged += 1
            self.summary.from_store += record["cached"]
            self.summary.unparsable += not record["parsed"]

    def _paid(self, reply: Reply | None) -> None:
        with self._lock:
            self.summary.calls += 1
            if reply is not None and reply.cost_usd is not None:
                self.summary.cost_usd += reply.cost_usd
            elif reply is not None:
                self.summary.unpriced += 1

    def _questions(
        self, drawings: list[Drawing], files: dict[Path, JudgementFile]
    ) -> Callable[[ResolvedModel], Iterator[Question]]:
        """Each judge's questions, made as they are asked (images read one by one)."""
        kinds, pools = self.settings.kinds, caption_pools(drawings)
        pairs = find_pairs(drawings) if "pairwise" in kinds else []
        asks = [  # recognition of each drawing: only where there are 2+ options
            "recognition" in kinds and prompts.offers_choice(
                str(d.record["caption"]), pools.get(str(d.record.get("level")), []))
            for d in drawings
        ]  # fmt: skip
        if "recognition" in kinds and (skipped := asks.count(False)):
            self.say(f"recognition: {skipped} drawing(s) skipped: their level offers no other "
                     "caption to choose among (a one-option question is always right)")  # fmt: skip

        def questions(judge: ResolvedModel) -> Iterator[Question]:
            for drawing, recognition in zip(drawings, asks, strict=True):
                if recognition or "fidelity" in kinds:
                    image = drawing.image.read_bytes()
                if recognition:
                    yield self._recognition(judge, drawing, image, pools, files[drawing.folder])
                if "fidelity" in kinds:
                    yield self._fidelity(judge, drawing, image, files[drawing.folder])
            for a, b in pairs:  # in the folder of the sample that sorts first (see above)
                home = min((a, b), key=lambda d: (d.run, d.sample_id))
                yield self._pairwise(judge, a, b, files[home.folder])

        return questions

    def _request(self, judge: ResolvedModel, prompt: Prompt) -> pipeline.Request:
        return pipeline.Request(judge, prompt, self.params, 0)

    def _base(self, judge: ResolvedModel, kind: str, requests: list[pipeline.Request],
              drawing: Drawing) -> dict[str, Any]:  # fmt: skip
        rec = drawing.record
        prompt = requests[0].prompt
        return {
            "judge": judge.name, "kind": kind, "request_keys": [r.key for r in requests],
            "prompt_version": prompt.version, "template": prompt.template_id,
            "concept_id": rec.get("concept_id"), "level": rec.get("level"),
            "caption": rec.get("caption"), "language": rec.get("language"),
            "sample_index": rec.get("sample_index"), "task": rec.get("task"),
            "temperature": self.params.temperature, "max_tokens": self.params.max_tokens,
            "seed": self.settings.seed, "choices": self.settings.choices,
            "api_base": None if judge.is_local else judge.api_base,
        }  # fmt: skip

    def _recognition(self, judge: ResolvedModel, drawing: Drawing, image: bytes,
                     pools: dict[str, list[str]], out: JudgementFile) -> Question:  # fmt: skip
        rec = drawing.record
        pool = pools.get(str(rec.get("level")), [])
        # seeded by what was drawn, not by whom: every model's drawing of one concept (in
        # one language, as sample i) gets the same question
        question = f"{rec.get('concept_id')}:{rec.get('language')}:{rec.get('sample_index')}"
        choice = prompts.recognition(image, str(rec["caption"]), pool, self.settings.choices,
                                     self.settings.seed, question)  # fmt: skip
        requests = [self._request(judge, choice.prompt)]
        record = {**self._base(judge, "recognition", requests, drawing), **drawing.ref(),
                  "options": list(choice.options), "answer": choice.answer}  # fmt: skip

        def read(texts: list[str]) -> dict[str, Any]:
            picked = parse_letter(texts[0], choice.letters)
            return {"raw_reply": texts[0], "choice": picked, "parsed": picked is not None,
                    "correct": None if picked is None else picked == choice.answer}  # fmt: skip

        return Question("recognition", judge, out, requests, record, read)

    def _fidelity(self, judge: ResolvedModel, drawing: Drawing, image: bytes,
                  out: JudgementFile) -> Question:  # fmt: skip
        requests = [self._request(judge, prompts.fidelity(image, str(drawing.record["caption"])))]
        record = {**self._base(judge, "fidelity", requests, drawing), **drawing.ref()}

        def read(texts: list[str]) -> dict[str, Any]:
            score, reason = parse_score(texts[0])
            return {"raw_reply": texts[0], "score": score, "reason": reason,
                    "parsed": score is not None}  # fmt: skip

        return Question("fidelity", judge, out, requests, record, read)

    def _pairwise(self, judge: ResolvedModel, a: Drawing, b: Drawing,
                  out: JudgementFile) -> Question:  # fmt: skip
        caption = str(a.record["caption"])
        image_a, image_b = a.image.read_bytes(), b.image.read_bytes()
        requests = [self._request(judge, prompts.pairwise(image_a, image_b, caption)),
                    self._request(judge, prompts.pairwise(image_b, image_a, caption))]  # fmt: skip
        record = {**self._base(judge, "pairwise", requests, a), "samples": [a.ref(), b.ref()]}

        def read(texts: list[str]) -> dict[str, Any]:
            answers = [parse_choice(text) for text in texts]
            # order "ab": 1 is a; order "ba": 1 is b. Which sample each answer prefers:
            prefers = [None if answers[0] is None else "ab"[answers[0] - 1],
                       None if answers[1] is None else "ba"[answers[1] - 1]]  # fmt: skip
            agree = prefers[0] if prefers[0] == prefers[1] else "tie"
            winner = None if None in prefers else agree
            orders = [{"first": first, "request_key": r.key, "answer": answer,
                       "raw_reply": text}
                      for first, r, answer, text in zip("ab", requests, answers, texts,
                                                        strict=True)]  # fmt: skip
            model = {"a": a.model, "b": b.model}.get(str(winner))
            return {"orders": orders, "winner": winner, "winner_model": model,
                    "parsed": winner is not None}  # fmt: skip

        return Question("pairwise", judge, out, requests, record, read)


def _chunks(questions: Iterator[Question], size: int) -> Iterator[list[Question]]:
    """The questions in chunks of at most ``size`` requests (a pair's two go together:
    a chunk holds at least one question)."""
    chunk: list[Question] = []
    count = 0
    for question in questions:
        if chunk and count + len(question.requests) > size:
            yield chunk
            chunk, count = [], 0
        chunk.append(question)
        count += len(question.requests)
    if chunk:
        yield chunk


@contextlib.contextmanager
def _locked(path: Path, say: Say) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (waiting, with a line, when another holds it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another vad judge's batches ({path})")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _stored(store: ResponseStore, question: Question | str) -> bool:
    """Whether every reply ``question`` needs (or the reply of one request key) is in the
    response store (it costs nothing)."""
    keys = [question] if isinstance(question, str) else [r.key for r in question.requests]
    return all(pipeline.stored_reply(store.get(key)) is not None for key in keys)


def _usage(replies: list[Reply]) -> dict[str, Any]:
    """Tokens, cost and latency of a judgement's replies, summed (cost None if any
    reply's price is unknown)."""
    costs = [r.cost_usd for r in replies]
    return {
        "prompt_tokens": sum(r.prompt_tokens for r in replies),
        "completion_tokens": sum(r.completion_tokens for r in replies),
        "cost_usd": None if any(c is None for c in costs) else round(sum(costs), 9),  # type: ignore[arg-type]
        "latency_s": round(sum(r.latency_s for r in replies), 4),
    }
