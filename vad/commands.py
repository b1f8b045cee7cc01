"""Read-only commands: list runs, show one, list concepts and models."""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from typing import Any

from vad._paths import runs_dir
from vad.outcomes import NOT_SCORED, is_scored
from vad.rundir import (
    QUARANTINE,
    RunFolder,
    find_run,
    latest,
    list_runs,
    quarantined,
    read_samples,
    scan_samples,
    shown_status,
)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def list_runs_cmd(root: str | None) -> int:
    base = runs_dir(root)
    runs = list_runs(base)
    if not runs:
        print(f"no runs under {base}")
        return 0
    rows = []
    damaged = []
    for path, manifest in runs:
        totals = manifest.get("totals") if isinstance(manifest.get("totals"), dict) else {}
        if not totals and manifest.get("status") != "damaged":  # killed before it wrote them
            totals = RunFolder(path).totals()
        if manifest.get("status") == "damaged":
            damaged.append(manifest["error"])
        by_status = totals.get("by_status") if isinstance(totals.get("by_status"), dict) else {}
        counts = {str(k): v for k, v in by_status.items() if isinstance(v, int)}
        asked = sum(counts.values())
        scored = sum(v for k, v in counts.items() if k not in NOT_SCORED)
        rate = counts.get("ok", 0) / scored if scored else None  # of the scored samples
        planned = manifest.get("planned")
        done = f"{scored}/{asked}" if counts else "-"
        if isinstance(planned, int) and planned != asked:  # a run that did not get to its end
            done += f" of {planned}"
        rows.append([
            path.name, shown_status(path, manifest), done,
            f"{rate:.0%}" if rate is not None else "-",
            ",".join(str(m.get("name")) for m in manifest.get("models", [])
                     if isinstance(m, dict)),
            str(manifest.get("started_at", ""))[:19],
        ])  # fmt: skip
    print(_table(rows, ["run", "status", "scored/samples (of planned)", "ok", "models",
                        "started"]))  # fmt: skip
    for line in damaged:
        print(f"warning: {line}", file=sys.stderr)
    return 0


def print_summary(folder: RunFolder) -> None:
    """Counts by status and by model x language x level, and where the images are."""
    manifest = folder.read_manifest()
    scan = scan_samples(folder.samples_path)
    records = [record for _, record in latest(scan.records)]
    totals = folder.totals()  # from the samples: the manifest's copy may be stale
    print(f"run:      {manifest.get('run')}  ({shown_status(folder.path, manifest)})")
    print(f"folder:   {folder.path}")
    tasks = ", ".join(manifest.get("tasks", []))
    print(f"tasks:    {tasks}  prompts {manifest.get('prompt_versions')}")
    planned = manifest.get("planned")
    of = (
        f" of {planned} planned"
        if isinstance(planned, int) and planned != totals["samples"]
        else ""
    )
    print(f"samples:  {totals['samples']}{of} ({totals['scored']} scored, "
          f"{totals['not_scored']} not scored)  by status: {totals['by_status']}")  # fmt: skip
    if manifest.get("finished") is False and manifest.get("status") != "running":
        print("          the run did not get to its end: run the same command again to "
              "finish it")  # fmt: skip
    print(
        f"tokens:   {totals['prompt_tokens']} prompt + {totals['completion_tokens']} completion"
        f"  cost: ${totals['cost_usd']:.4f}"
        + (
            f" ({totals['cost_unknown_samples']} samples of unknown price)"
            if totals.get("cost_unknown_samples")
            else ""
        )
    )
    groups: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    for r in records:
        key = tuple(str(r.get(k, "?")) for k in ("task", "model", "language", "level"))
        groups[key][r["status"]] += 1
    rows = []
    for (task, model, lang, level), counts in sorted(groups.items()):
        n = sum(counts.values())
        scored = sum(v for k, v in counts.items() if k not in NOT_SCORED)
        rate = f"{counts.get('ok', 0) / scored:.0%}" if scored else "-"
        other = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())
                          if k != "ok" and k not in NOT_SCORED)  # fmt: skip
        errors = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if k in NOT_SCORED)
        rows.append([task, model, lang, level, f"{scored}/{n}", rate, other, errors])
    if rows:
        print("\nok: rendered (draw, correct) or answered (recognize), of the scored samples")
        print(_table(rows, ["task", "model", "lang", "level", "scored/asked", "ok",
                            "other scored", "not scored"]))  # fmt: skip
    if scan.damaged:
        print(f"\nwarning: {scan.note(folder.samples_path)}")
    if n_quarantined := quarantined(folder.path):
        print(f"\nquarantine: {n_quarantined} damaged line(s) moved aside into "
              f"{folder.path / QUARANTINE}")  # fmt: skip
    sessions = manifest.get("sessions", [])
    if sessions:
        last = sessions[-1]
        print(
            f"\nlast session: {last.get('wall_s')} s, {last.get('model_calls')} model calls, "
            f"{last.get('cache_hits')} cache hits, {last.get('written')} samples written"
        )
    print(f"images:   {folder.images}")
    print(f"samples:  {folder.samples_path}")


def show_cmd(name: str, root: str | None) -> int:
    print_summary(find_run(runs_dir(root), name))
    return 0


def concepts_cmd(levels: list[str] | None, limit: int | None, files: list[str] | None) -> int:
    from vad.concepts import load_concepts

    concepts = load_concepts(levels, limit=limit, extra_files=files or ())
    for c in concepts:
        print(f"{c.level}\t{c.id}\t{c.caption}")
    counts = Counter(c.level for c in concepts)
    print(f"# {len(concepts)} concepts: {dict(counts)}", flush=True)
    return 0


def models_cmd() -> int:
    from vad.models import ALIASES
    from vad.models.engines import engines

    print("embedded (offline, no key):")
    for provider, engine in engines().items():
        for key, description in engine.models().items():
            print(f"  {provider + '/' + key:<28} {description}")
        if engine.also:
            print(f"  {engine.also}")
    print("aliases:")
    for alias, name in sorted(ALIASES.items()):
        print(f"  {alias:<28} {name}")
    print("any provider/model litellm knows (openai/..., anthropic/..., gemini/...);")
    print("OpenAI-compatible servers: openai/MODEL --api-base URL")
    return 0


__all__ = ["concepts_cmd", "list_runs_cmd", "models_cmd", "print_summary", "show_cmd"]


def failure_report(folder: RunFolder) -> int:
    """Say loudly when samples could not be scored, with the first reason of each kind.

    Samples not scored (failed model calls, host failures) are not results: the next
    run of the same command redoes them. Exit codes: 0 every sample scored, 3 some not
    scored, 1 none scored.
    """
    records = read_samples(folder.samples_path)
    failed = [r for r in records if not is_scored(r)]
    if not failed:
        return 0
    kinds = Counter(r["status"] for r in failed)
    what = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    reasons = {kind: _first_reason(r for r in failed if r["status"] == kind) for kind in kinds}
    main_kind = kinds.most_common(1)[0][0]
    first = (f"; first {main_kind}: {reasons[main_kind]}. Fix the cause, then run the same "
             "command again: only those samples are redone")  # fmt: skip
    if len(failed) == len(records):
        print(f"error: every sample failed ({what}): nothing in {folder.path.name} was scored"
              f"{first}", file=sys.stderr)  # fmt: skip
    else:
        print(f"warning: {len(failed)} of {len(records)} samples could not be scored "
              f"({what}) and are not results{first}", file=sys.stderr)  # fmt: skip
    for kind in sorted(kinds):
        if kind != main_kind:
            print(f"  first {kind} ({NOT_SCORED.get(kind, kind)}): {reasons[kind]}",
                  file=sys.stderr)  # fmt: skip
    return EXIT_NONE_SCORED if len(failed) == len(records) else EXIT_SOME_NOT_SCORED


EXIT_NONE_SCORED, EXIT_SOME_NOT_SCORED = 1, 3


def _first_reason(records: Any) -> str:
    for record in records:
        reason = record.get("error") or (record.get("render") or {}).get("reason") or ""
        if str(reason).strip():
            return str(reason).strip().splitlines()[0][:300]
    return "no reason recorded"
