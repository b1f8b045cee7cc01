"""The runs a leaderboard reads: their samples with each request once, the samples
they planned and never wrote, what each sample was asked with, and which runs did not
finish."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vad.models.engines import engine_for
from vad.outcomes import is_scored
from vad.rundir import (
    QUARANTINE,
    RunStateError,
    find_run,
    is_finished,
    latest,
    quarantined,
    read_planned,
    scan_samples,
    shown_status,
)
from vad.scoring.base import Sample
from vad.tasks import task_class

NOT_RUN = "not run"  # the status of a planned sample that its run never wrote
Field = Callable[[Sample], str]


@dataclass
class Run:
    """One run as the leaderboard reads it."""

    name: str
    folder: Path
    manifest: dict[str, Any]
    status: str  # as `vad runs` shows it ("interrupted" for a run killed outright)
    finished: bool
    planned: int | None  # how many samples it meant to write; None: not recorded
    written: int = 0  # samples in its samples.jsonl (the last record of each)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> how it was asked

    def note(self) -> str:
        """One line on a run that did not finish ('' for one that did)."""
        if self.finished:
            return ""
        if self.status == "damaged":
            head = f"{self.name}: its manifest is damaged, so it is not known to have finished"
        else:
            head = f"{self.name} did not finish ({self.status})"
        if self.planned is not None:
            counts = (f"{self.written} of its {self.planned} planned samples were written; "
                      "its rows count the rest as not run")  # fmt: skip
        else:
            counts = (f"{self.written} samples were written and it did not record how many it "
                      "planned, so its rows count only those")  # fmt: skip
        fix = ("build the site again once it ends" if self.status == "running"
               else "run the same command again to finish it")  # fmt: skip
        return f"{head}: {counts}; {fix}"


@dataclass
class Loaded:
    """Samples (each request once), planned samples never written, runs, warnings."""

    samples: list[Sample]
    planned: list[Sample]  # (run, 0, record with status NOT_RUN)
    runs: dict[str, Run]
    warnings: list[str]

    def unfinished(self) -> set[str]:
        return {name for name, run in self.runs.items() if not run.finished}

    def notes(self, runs: set[str]) -> list[str]:
        """The lines on those of ``runs`` that did not finish."""
        return [run.note() for name, run in self.runs.items() if name in runs and run.note()]


def load_runs(names: list[str], root: Path) -> tuple[list[Sample], list[Sample], dict[str, Run],
                                                       list[str]]:  # fmt: skip
    """Every run's samples (the last record of each), its planned samples not written,
    the runs, and warnings. Damaged lines and manifests are skipped and named, never
    fatal; a run named twice is read once."""
    samples: list[Sample] = []
    planned: list[Sample] = []
    runs: dict[str, Run] = {}
    warnings: list[str] = []
    for name in names:
        folder = find_run(root, name)
        run_id = folder.path.name
        if run_id in runs:
            continue
        try:
            manifest = folder.read_manifest()
        except RunStateError as exc:
            warnings.append(str(exc))
            manifest = {"status": "damaged"}
        scan = scan_samples(folder.samples_path)
        mine = [(run_id, number, record) for number, record in latest(scan.records)]
        samples += mine
        if scan.damaged:
            warnings.append(scan.note(folder.samples_path))
        if n := quarantined(folder.path):
            warnings.append(f"{run_id}: {n} damaged line(s) were moved aside into "
                            f"{QUARANTINE} and their samples redone")  # fmt: skip
        status = "damaged" if manifest.get("status") == "damaged" else shown_status(
            folder.path, manifest
        )  # fmt: skip
        plan = read_planned(folder.path)
        count = manifest.get("planned")
        run = Run(run_id, folder.path, manifest, status,
                  is_finished(manifest) and status == "finished",
                  count if isinstance(count, int) and plan is not None else None,
                  len(mine), _models(manifest))  # fmt: skip
        runs[run_id] = run
        written = {str(rec.get("sample_id")) for _, _, rec in mine}
        versions = manifest.get("prompt_versions")
        versions = versions if isinstance(versions, dict) else {}
        for line in plan or []:
            if line["sample_id"] not in written:
                task = str(line.get("task"))
                version = versions.get(task)
                rec = {**line, "status": NOT_RUN,
                       "prompt_version": None if version is None else str(version)}  # fmt: skip
                planned.append((run_id, 0, rec))
        if note := run.note():
            warnings.append(note)
    return samples, planned, runs, warnings


def _models(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Model name -> provider, style and endpoint, from the manifest (its models are the
    spec's, resolved, in the spec's order)."""
    spec = manifest.get("spec") if isinstance(manifest.get("spec"), dict) else {}
    entries = spec.get("models") if isinstance(spec.get("models"), list) else []
    found = {}
    models = manifest.get("models") if isinstance(manifest.get("models"), list) else []
    for index, model in enumerate(models):
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            continue
        entry = entries[index] if index < len(entries) and isinstance(entries[index], dict) else {}
        found[model["name"]] = {**model, "api_base": entry.get("api_base")}
    return found


def _number(value: Any) -> str:
    """A number the same way whatever type it was written as (0, 0.0 -> '0.0')."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?" if value is None else str(value)
    return repr(float(value))


def _integer(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "?" if value is None else str(value)


def _endpoint(model: dict[str, Any]) -> str:
    """Where a model was asked: its engine ('local') for an embedded model, 'default' for its
    provider's own endpoint, else the URL without credentials or query."""
    provider = str(model.get("provider"))
    if engine_for(provider) is not None:  # served by vad itself: named by its engine
        return provider
    url = model.get("api_base")
    if not url:
        return "default"
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else str(url)


def setting_fields(runs: dict[str, Run]) -> list[tuple[str, Field, bool]]:
    """What changes a reply besides the model, the prompt and its version, as table
    columns: (column, its value for a sample, whether it is shown when all rows agree).

    Each value comes from the sample's record where it names it, else from its run's
    manifest (the spec it was run with)."""

    def spec(sample: Sample) -> dict[str, Any]:
        run = runs.get(sample[0])
        got = run.manifest.get("spec") if run is not None else None
        return got if isinstance(got, dict) else {}

    def model(sample: Sample) -> dict[str, Any]:
        run = runs.get(sample[0])
        return run.models.get(str(sample[2].get("model")), {}) if run is not None else {}

    def pick(sample: Sample, name: str) -> Any:
        rec = sample[2]
        return rec[name] if rec.get(name) is not None else spec(sample).get(name)

    def size(sample: Sample) -> str:
        got = spec(sample)
        return f"{_integer(got.get('width'))}x{_integer(got.get('height'))}"

    return [
        ("temperature", lambda s: _number(pick(s, "temperature")), True),
        ("max tokens", lambda s: _integer(pick(s, "max_tokens")), True),
        ("style", lambda s: str(s[2].get("style") or model(s).get("style") or "?"), False),
        ("size", size, False),
        ("api base", lambda s: _endpoint(model(s)), False),
        ("task options", lambda s: _options(str(s[2].get("task")), spec(s)), False),
    ]


def _options(task_name: str, spec: dict[str, Any]) -> str:
    """The options of a sample's task that change what it means (the options of a
    choice, the rounds of a chain), defaults filled in: other values, other rows."""
    task = task_class(task_name)
    block = spec.get(task_name) if isinstance(spec.get(task_name), dict) else {}
    if task is None:
        return ""
    shaping = [(name, option) for name, option in sorted(task.options.items()) if option.in_rows]
    return ", ".join(f"{name}={block.get(name, option.default)}" for name, option in shaping)


def distinct(
    samples: list[Sample],
    planned: list[Sample],
    identity: Callable[[Sample], tuple[Any, ...]],
    asked_with: Callable[[Sample], tuple[Any, ...]] = lambda sample: (),
) -> tuple[list[Sample], list[Sample]]:
    """Each request once across runs, and each planned sample that no run wrote once.

    A sample is its request (its record's ``request_key``: the same request gets the same
    reply from the response store); of several copies the scored one is kept, else the
    first. The rounds of a task in rounds stay together: of the runs holding a chain
    (its round 0 asked the same), the one with the most scored rounds is kept whole.
    ``identity`` names a sample apart from how far its run got (its id and what it was
    asked with); a planned sample counts only where no run wrote one of that identity.
    ``asked_with`` gives the settings a row is keyed by (chains are kept per setting).
    """
    keep: dict[Any, tuple[tuple[int, ...], list[int]]] = {}
    chains: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, (run, _, rec) in enumerate(samples):
        if _in_rounds(rec):
            chains[(run, str(rec.get("sample_id")).rsplit(":r", 1)[0])].append(index)
            continue
        key = ("request", rec.get("task"), rec.get("request_key") or (run, rec.get("sample_id")))
        rank = (0 if is_scored(rec) else 1, index)
        if key not in keep or rank < keep[key][0]:
            keep[key] = (rank, [index])
    for (run, base), members in chains.items():
        first = next((samples[i][2] for i in members if str(samples[i][2].get("round")) == "0"),
                     None)  # fmt: skip
        origin = first.get("request_key") if first is not None else None
        # (a chain of 3 rounds and one of 5 begin alike: their rows differ, so do they)
        key = ("chain", samples[members[0]][2].get("task"), origin or (run, base),
               asked_with(samples[members[0]]))  # fmt: skip
        scored = sum(1 for i in members if is_scored(samples[i][2]))
        rank = (-scored, -len(members), members[0])
        if key not in keep or rank < keep[key][0]:
            keep[key] = (rank, members)
    kept = sorted(i for _, members in keep.values() for i in members)
    written = {identity(s) for s in samples}
    missing, seen = [], set()
    for sample in planned:
        ident = identity(sample)
        if ident not in written and ident not in seen:
            seen.add(ident)
            missing.append(sample)
    return [samples[i] for i in kept], missing


def _in_rounds(rec: dict[str, Any]) -> bool:
    task = task_class(str(rec.get("task")))
    return task is not None and task.round_prompts is not None and "round" in rec
