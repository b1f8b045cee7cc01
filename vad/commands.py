"""Read-only commands: list runs, show one, list concepts and models."""

from __future__ import annotations

import sys
from collections import Counter, defaultdict

from vad._paths import runs_dir
from vad.rundir import RunFolder, find_run, list_runs, read_samples


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
    for path, manifest in runs:
        totals = manifest.get("totals", {})
        rate = totals.get("render_ok_rate")
        rows.append([
            path.name, manifest.get("status", "?"), str(totals.get("samples", "?")),
            f"{rate:.0%}" if rate is not None else "-",
            ",".join(m["name"] for m in manifest.get("models", [])),
            manifest.get("started_at", "")[:19],
        ])  # fmt: skip
    print(_table(rows, ["run", "status", "samples", "ok", "models", "started"]))
    return 0


def print_summary(folder: RunFolder) -> None:
    """Counts by status and by model x language x level, and where the images are."""
    manifest = folder.read_manifest()
    records = read_samples(folder.samples_path)
    totals = manifest.get("totals") or folder.totals()
    print(f"run:      {manifest.get('run')}  ({manifest.get('status')})")
    print(f"folder:   {folder.path}")
    tasks = ", ".join(manifest.get("tasks", []))
    print(f"tasks:    {tasks}  prompts {manifest.get('prompt_versions')}")
    print(f"samples:  {totals['samples']}  by status: {totals['by_status']}")
    print(
        f"tokens:   {totals['prompt_tokens']} prompt + {totals['completion_tokens']} completion"
        f"  cost: ${totals['cost_usd']:.4f}"
        + (
            f" ({totals['cost_unknown_samples']} samples of unknown price)"
            if totals.get("cost_unknown_samples")
            else ""
        )
    )
    groups: dict[tuple[str, str, str, str], Counter[str]] = defaultdict(Counter)
    for r in records:
        groups[(r.get("task", "draw"), r["model"], r["language"], r["level"])][r["status"]] += 1
    rows = []
    for (task, model, lang, level), counts in sorted(groups.items()):
        n = sum(counts.values())
        other = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if k != "ok")
        rows.append([task, model, lang, level, str(n), f"{counts.get('ok', 0) / n:.0%}", other])
    if rows:
        print("\nok: rendered (draw, correct) or answered (recognize)")
        print(_table(rows, ["task", "model", "lang", "level", "n", "ok", "other"]))
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
    from vad.models.local import EMBEDDED

    print("embedded (offline, no key):")
    for key, model in EMBEDDED.items():
        print(f"  local/{key:<22} {model.description}")
    print("  local/PATH.gguf          any GGUF file, served the same way")
    print("aliases:")
    for alias, name in sorted(ALIASES.items()):
        print(f"  {alias:<28} {name}")
    print("any provider/model litellm knows (openai/..., anthropic/..., gemini/...);")
    print("OpenAI-compatible servers: openai/MODEL --api-base URL")
    return 0


__all__ = ["concepts_cmd", "list_runs_cmd", "models_cmd", "print_summary", "show_cmd"]


def failure_report(folder: RunFolder) -> int:
    """Say loudly when samples failed for reasons other than the model's drawing.

    Failed model calls (and host-side crashes) are not results: they are retried by
    the next run of the same command. A run in which every sample failed exits 1.
    """
    from vad.rundir import RETRY_STATUSES

    records = read_samples(folder.samples_path)
    failed = [r for r in records if r.get("status") in RETRY_STATUSES]
    if not failed:
        return 0
    kinds = Counter(r["status"] for r in failed)
    first = next((r.get("error") or (r.get("render") or {}).get("reason") for r in failed), "")
    what = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    reason = f"; first reason: {str(first).splitlines()[0][:300]}" if first else ""
    if len(failed) == len(records):
        print(
            f"error: every sample failed ({what}): nothing in {folder.path.name} was scored"
            f"{reason}. Fix the cause, then run the same command again: failed samples "
            "are retried.",
            file=sys.stderr,
        )
        return 1
    print(
        f"warning: {len(failed)} of {len(records)} samples failed ({what}) and are not "
        f"results{reason}. Run the same command again to retry them.",
        file=sys.stderr,
    )
    return 0
