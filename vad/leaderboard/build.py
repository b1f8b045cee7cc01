"""`vad leaderboard RUN...`: a static site, CSV and Markdown built from run outputs only."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vad._paths import runs_dir
from vad.errors import VadError
from vad.fsutil import check_out, staged_folder
from vad.leaderboard.compare import compare_pages, file_names, strip
from vad.leaderboard.images import Images
from vad.leaderboard.judged import judge_tables, load_judgements
from vad.leaderboard.page import table_view
from vad.leaderboard.publish import write_dataset
from vad.leaderboard.render import render, visible
from vad.leaderboard.runs import Loaded, distinct, load_runs, setting_fields
from vad.leaderboard.sample_pages import code_css, write_sample_data
from vad.leaderboard.tables import Field, Row, Sample, Table, is_percent, tables, version_field
from vad.leaderboard.votes import load_votes
from vad.scoring.base import ScoringContext
from vad.scoring.clip import ClipScorer, unavailable
from vad.scoring.fidelity import fidelity
from vad.scoring.stats import Estimate
from vad.scoring.verified import verdicts
from vad.scoring.verifier import VERSION as VERIFIER_VERSION
from vad.tasks import draws_images

SITE_MARK = ".vad-leaderboard"  # in every site this writes: a folder it may replace


INTERVALS_NOTE = (
    "Intervals are 95%: Wilson score intervals for rates of yes/no outcomes (render rate, "
    "accuracy, contains, CLIP top-k), percentile bootstrap for continuous scores (CLIPScore, "
    "diversity) and for paired changes from round 0."
)
SCORED_NOTE = (
    "Rates count scored samples only (the model answered: its drawing rendered or failed "
    "for a reason it caused); samples whose model call or host failed are not scored and "
    "are counted apart. Verified rates: every verdict is of the shapes verifier "
    f"{VERIFIER_VERSION} (a sample verified by another version is verified again); a drawing "
    "that did not render is not verified."
)


def _cell_text(value: Estimate | str, column: str) -> str:
    return value if isinstance(value, str) else value.format(percent=is_percent(column))


def _write_csv(table: Table, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        head = list(table.key_columns)
        for col in table.value_columns:
            head += [col, f"{col} low", f"{col} high"]
        writer.writerow([*head, "n scored", "n asked", "not scored", "runs", "unfinished runs"])
        for row in table.rows:
            cells = [row.key[k] for k in table.key_columns]
            for col in table.value_columns:
                value = row.values[col]
                if isinstance(value, Estimate):
                    scale = 100.0 if is_percent(col) else 1.0
                    cells += [
                        f"{value.mean * scale:.2f}",
                        f"{value.low * scale:.2f}",
                        f"{value.high * scale:.2f}",
                    ]
                else:
                    cells += [value, "", ""]
            runs = " ".join(sorted({r for r, _ in row.evidence}))
            writer.writerow([*cells, row.scored, row.asked, row.not_scored_text(), runs,
                             row.unfinished_text()])  # fmt: skip


def _md(text: object) -> str:
    """A Markdown table cell: controls made visible, '|' escaped."""
    return visible(text).replace("|", "\\|")


def _markdown(tables: list[Table], manifests: list[dict[str, Any]], warnings: list[str]) -> str:
    out = ["# vad leaderboard", "", INTERVALS_NOTE, SCORED_NOTE, ""]
    out += [f"> warning: {visible(w)}" for w in warnings] + ([""] if warnings else [])
    for table in tables:
        out += [f"## {table.title}", "", table.note, ""]
        cols = [*table.key_columns, *table.value_columns, "scored / asked", "not scored"]
        out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for row in table.rows:
            cells = [_md(row.key[k]) for k in table.key_columns]
            cells += [_cell_text(row.values[c], c) for c in table.value_columns]
            unfinished = f" (did not finish: {row.unfinished_text()})" if row.unfinished else ""
            cells += [f"{row.scored} / {row.asked}{unfinished}", row.not_scored_text()]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    out += ["## Provenance", ""]
    for m in manifests:
        out.append(visible(f"- run `{m['run']}`: models {_model_names(m)}"
                           f"; prompts {m.get('prompt_versions')}"
                           f"; renderers {m.get('renderer_versions')}"
                           f"; commit {(m.get('git') or {}).get('commit')}"
                           f"; status {m.get('shown_status')}"))  # fmt: skip
    return "\n".join(out) + "\n"


def _model_page(
    model: str, samples: list[Sample], images: Images, version: Field, warnings: list[str]
) -> str:
    """Image grids: concept x sample per language and prompt version, and concept x round
    for corrections."""
    grids: dict[tuple[str, str, str], dict[str, dict[str, Sample]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for run, line, rec in samples:
        if rec.get("model") != model or not draws_images(str(rec.get("task"))):
            continue
        column = f"s{rec['sample_index']}" + (f" r{rec['round']}" if "round" in rec else "")
        grid = (rec["task"], rec["language"], version((run, line, rec)))
        grids[grid][rec["caption"]][column] = (run, line, rec)
    views = []
    for (task, lang, prompts), rows in sorted(grids.items()):
        columns = sorted({c for cells in rows.values() for c in cells})
        views.append({"task": task, "language": lang, "version": prompts, "columns": columns,
                      "rows": [(caption, [images.drawing(*cells[c]) if c in cells else None
                                          for c in columns])
                               for caption, cells in sorted(rows.items())]})  # fmt: skip
    return render("model.html", title=f"vad — {model}", model=model, grids=views, warnings=warnings)


def _identity(settings: list[tuple[str, Field, bool]], version: Field,
              loaded: Loaded) -> Callable[[Sample], tuple[Any, ...]]:  # fmt: skip
    """A sample apart from its run's progress: its id, model, prompt version, what it
    was asked with, and its run's base seed (two runs asking it alike ask the same)."""

    def identity(sample: Sample) -> tuple[Any, ...]:
        run = loaded.runs.get(sample[0])
        spec = run.manifest.get("spec") if run is not None else None
        seed = spec.get("seed") if isinstance(spec, dict) else None
        rec = sample[2]
        return (rec.get("task"), rec.get("sample_id"), rec.get("model"), version(sample), seed,
                *(get(sample) for _, get, _ in settings))  # fmt: skip

    return identity


def load(runs: list[str], root: Path) -> Loaded:
    """The runs' samples with each request once, and the planned samples none wrote."""
    samples, planned, found, warnings = load_runs(runs, root)
    run_versions = {name: r.manifest.get("prompt_versions") or {} for name, r in found.items()}
    loaded = Loaded(samples, planned, found, warnings)
    settings = setting_fields(found)
    version = version_field(samples, run_versions)
    loaded.samples, loaded.planned = distinct(
        samples, planned, _identity(settings, version, loaded),
        lambda sample: tuple(get(sample) for _, get, _ in settings),
    )  # fmt: skip
    return loaded


def build_leaderboard(
    runs: list[str],
    out: str | Path,
    root: str | Path | None = None,
    clip: ClipScorer | str | None = None,
    warn: Callable[[str], None] | None = None,
    votes: list[str | Path] | None = None,
) -> Path:
    """Write index.html, one page per model, one side-by-side page per language,
    <table>.csv, leaderboard.md and evidence.jsonl.

    The site is written into a new folder beside ``out`` and renamed into place once
    whole: until then an earlier site there stays as it was, and a build that fails
    leaves nothing behind. ``clip`` is a scorer (see vad.scoring.clip.clip_scorer), or
    the reason there is none; None: no CLIP was asked for. ``votes``: files of people's
    votes (``vad arena --export-votes``), rated beside the judges (vad.leaderboard.votes).
    The site also holds the board as a dataset (``dataset/``: Parquet and a card,
    vad.leaderboard.publish) and a page for every sample (vad.leaderboard.sample_pages).
    """
    site = Path(out)
    _check_out(site)
    loaded = load(runs, runs_dir(root))
    check_out(site, [run.folder for run in loaded.runs.values()], "a run the site reads")
    people, said = load_votes(list(votes or []), loaded.samples)
    loaded.warnings += said
    if warn is not None:
        for line in loaded.warnings:
            warn(line)
    with staged_folder(site) as work:
        _write_site(work, loaded, clip, people)
        files = sorted(str(p.relative_to(work)) for p in work.rglob("*") if not p.is_dir())
        mark = "a site written by `vad leaderboard`; its files:\n" + "".join(
            f"{name}\n" for name in files
        )
        (work / SITE_MARK).write_text(mark, encoding="utf-8")
    return site


def _check_out(site: Path) -> None:
    """Refuse to replace anything but an earlier site (or an empty folder)."""
    if site.is_symlink():
        raise VadError(f"{site} is a symbolic link: give the folder itself as --out")
    if not site.exists():
        return
    if not site.is_dir():
        raise VadError(f"{site} is not a folder: choose another --out")
    names = {p.name for p in site.iterdir()}
    if not names:
        return
    if SITE_MARK in names:  # the files the site wrote are listed in its mark
        written = set((site / SITE_MARK).read_text(encoding="utf-8").splitlines()[1:])
        present = {str(p.relative_to(site)) for p in site.rglob("*") if not p.is_dir()}
        others = sorted(present - written - {SITE_MARK})
    elif {"index.html", "leaderboard.md"} <= names:  # a site of an earlier version
        others = sorted(n for n in names if not _SITE_ENTRY.match(n))
    else:
        others = sorted(names)
    if others:
        raise VadError(f"{site} holds files no leaderboard build wrote ({', '.join(others[:3])}"
                       f"{', ...' if len(others) > 3 else ''}), which replacing the site would "
                       "delete: choose another --out, or move them away")  # fmt: skip


# What a site holds at its top level (sites written before the mark listed its entries).
_SITE_ENTRY = re.compile(r"^(?:[\w.-]+\.(?:html|csv)|leaderboard\.md|evidence\.jsonl|images)$")


def _write_site(
    site: Path, loaded: Loaded, clip: ClipScorer | str | None, people: list[dict[str, Any]]
) -> None:
    samples, planned = loaded.samples, loaded.planned
    clip = unavailable("no CLIP weights given") if clip is None else clip
    folders = {name: run.folder for name, run in loaded.runs.items()}
    if isinstance(clip, str):
        note, scores = clip, None
    else:
        note = f"CLIP fidelity and diversity with {clip.name}."
        drawn = [s for s in samples if draws_images(str(s[2].get("task")))]
        scores = fidelity(drawn, folders, clip)
    manifests = [{**run.manifest, "run": name, "shown_status": run.status}
                 for name, run in loaded.runs.items()]  # fmt: skip
    run_versions = {m["run"]: m.get("prompt_versions") or {} for m in manifests}
    ctx = ScoringContext(samples, scores, folders=folders)
    boards = tables(ctx, run_versions, note, planned, setting_fields(loaded.runs),
                    loaded.unfinished())  # fmt: skip
    judgements = load_judgements(samples, folders) + people
    boards += judge_tables(ctx, judgements)
    models = sorted({str(rec["model"]) for _, _, rec in [*samples, *planned] if rec.get("model")})
    model_pages = file_names("model", models)
    version, images = version_field(samples, run_versions), Images(site, folders)
    images.verdicts = verdicts(ctx)
    compared = compare_pages(samples, version, images, loaded.notes, planned)
    side_names = file_names("compare", compared)
    sides = {lang: (side_names[lang], html_text) for lang, html_text in compared.items()}
    warnings = loaded.warnings
    with (site / "evidence.jsonl").open("w", encoding="utf-8") as ev:
        for table in boards:
            _write_csv(table, site / f"{table.name}.csv")
            for row in table.rows:
                ev.write(json.dumps({"table": table.name, **row.key, "lines": _compact(row),
                                     "asked": row.asked, "unfinished": row.unfinished})
                         + "\n")  # fmt: skip
    index = render(
        "index.html", title="vad leaderboard", warnings=warnings, n_samples=len(samples),
        intervals_note=INTERVALS_NOTE, scored_note=SCORED_NOTE,
        tables=[table_view(t, model_pages) for t in boards],
        sides=[(lang, name) for lang, (name, _) in sides.items()],
        models=[{"name": m, "page": name, "strip": strip(m, samples, images)}
                for m, name in model_pages.items()],
        manifests=[_provenance(m) for m in manifests],
    )  # fmt: skip
    (site / "index.html").write_text(index, encoding="utf-8")
    for model, name in model_pages.items():
        feeding = {r for r, _, rec in [*samples, *planned] if rec.get("model") == model}
        html_text = _model_page(model, samples, images, version, loaded.notes(feeding))
        (site / name).write_text(html_text, encoding="utf-8")
    for name, html_text in sides.values():
        (site / name).write_text(html_text, encoding="utf-8")
    write_sample_data(site, samples, images, judgements, model_pages)
    write_dataset(site / "dataset", samples, folders, scores, manifests)
    (site / "sample.html").write_text(
        render("sample.html", title="vad — sample", code_css=code_css(), warnings=warnings),
        encoding="utf-8",
    )
    (site / "leaderboard.md").write_text(_markdown(boards, manifests, warnings), encoding="utf-8")


def _compact(row: Row) -> dict[str, list[int]]:
    lines: dict[str, list[int]] = defaultdict(list)
    for run, line in row.evidence:
        lines[run].append(line)
    return dict(lines)


def _model_names(manifest: dict[str, Any]) -> str:
    models = manifest.get("models")
    return ", ".join(str(x.get("name")) for x in models if isinstance(x, dict)) if isinstance(
        models, list) else ""  # fmt: skip


def _provenance(m: dict[str, Any]) -> dict[str, str]:
    return {"run": m["run"], "models": _model_names(m),
            "prompts": json.dumps(m.get("prompt_versions")),
            "renderers": json.dumps(m.get("renderer_versions")),
            "commit": str((m.get("git") or {}).get("commit")),
            "status": str(m.get("shown_status"))}  # fmt: skip
