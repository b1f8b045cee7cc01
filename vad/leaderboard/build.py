"""`vad leaderboard RUN...`: a static site, CSV and Markdown built from run outputs only."""

from __future__ import annotations

import csv
import html
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vad._paths import runs_dir
from vad.leaderboard.compare import compare_pages, file_name, strip
from vad.leaderboard.images import Images
from vad.leaderboard.page import page, table_html
from vad.leaderboard.tables import Field, Row, Sample, Table, is_percent, tables, version_field
from vad.rundir import (
    QUARANTINE,
    RunStateError,
    find_run,
    latest,
    quarantined,
    scan_samples,
)
from vad.scoring.base import ScoringContext
from vad.scoring.clip import ClipScorer, unavailable
from vad.scoring.fidelity import fidelity
from vad.scoring.stats import Estimate
from vad.tasks import draws_images


def _load(
    runs: list[str], root: Path
) -> tuple[list[Sample], list[dict[str, Any]], dict[str, Path], list[str]]:
    """Samples (run, line number, record) of every run, their manifests, and warnings.

    Damaged lines and damaged manifests are skipped and named, never fatal.
    """
    samples: list[Sample] = []
    manifests, folders, warnings = [], {}, []
    for name in runs:
        folder = find_run(root, name)
        run_id = folder.path.name
        try:
            manifest = folder.read_manifest()
        except RunStateError as exc:
            warnings.append(str(exc))
            manifest = {"status": "damaged"}
        manifests.append({**manifest, "run": run_id})
        folders[run_id] = folder.path
        scan = scan_samples(folder.samples_path)
        samples += [(run_id, number, record) for number, record in latest(scan.records)]
        if scan.damaged:
            warnings.append(scan.note(folder.samples_path))
        if n := quarantined(folder.path):
            warnings.append(f"{run_id}: {n} damaged line(s) were moved aside into "
                            f"{QUARANTINE} and their samples redone")  # fmt: skip
    return samples, manifests, folders, warnings


INTERVALS_NOTE = (
    "Intervals are 95%: Wilson score intervals for rates of yes/no outcomes (render rate, "
    "accuracy, contains, CLIP top-k), percentile bootstrap for continuous scores (CLIPScore, "
    "diversity) and for paired changes from round 0."
)
SCORED_NOTE = (
    "Rates count scored samples only (the model answered: its drawing rendered or failed "
    "for a reason it caused); samples whose model call or host failed are not scored and "
    "are counted apart."
)


def _cell_text(value: Estimate | str, column: str) -> str:
    return value if isinstance(value, str) else value.format(percent=is_percent(column))


def _write_csv(table: Table, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        head = list(table.key_columns)
        for col in table.value_columns:
            head += [col, f"{col} low", f"{col} high"]
        writer.writerow([*head, "n scored", "n asked", "not scored", "runs"])
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
            writer.writerow([*cells, row.scored, row.asked, row.not_scored_text(), runs])


def _markdown(tables: list[Table], manifests: list[dict[str, Any]], warnings: list[str]) -> str:
    out = ["# vad leaderboard", "", INTERVALS_NOTE, SCORED_NOTE, ""]
    out += [f"> warning: {w}" for w in warnings] + ([""] if warnings else [])
    for table in tables:
        out += [f"## {table.title}", "", table.note, ""]
        cols = [*table.key_columns, *table.value_columns, "scored / asked", "not scored"]
        out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for row in table.rows:
            cells = [row.key[k] for k in table.key_columns]
            cells += [_cell_text(row.values[c], c) for c in table.value_columns]
            cells += [f"{row.scored} / {row.asked}", row.not_scored_text()]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    out += ["## Provenance", ""]
    for m in manifests:
        out.append(f"- run `{m['run']}`: models {', '.join(x['name'] for x in m.get('models', []))}"
                   f"; prompts {m.get('prompt_versions')}; renderers {m.get('renderer_versions')}"
                   f"; commit {(m.get('git') or {}).get('commit')}")  # fmt: skip
    return "\n".join(out) + "\n"


def _model_page(model: str, samples: list[Sample], images: Images, version: Field) -> str:
    """Image grids: concept x sample per language and prompt version, and concept x round
    for corrections."""
    parts = [f"<h1>{html.escape(model)}</h1><p><a href='index.html'>← leaderboard</a></p>"]
    grids: dict[tuple[str, str, str], dict[str, dict[str, Sample]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for run, line, rec in samples:
        if rec.get("model") != model or not draws_images(str(rec.get("task"))):
            continue
        column = f"s{rec['sample_index']}" + (f" r{rec['round']}" if "round" in rec else "")
        grid = (rec["task"], rec["language"], version((run, line, rec)))
        grids[grid][rec["caption"]][column] = (run, line, rec)
    for (task, lang, prompts), rows in sorted(grids.items()):
        columns = sorted({c for cells in rows.values() for c in cells})
        parts.append(
            f"<h2>{task}: {html.escape(lang)} <small>(prompt version {html.escape(prompts)})"
            "</small></h2><table class='grid'><tr><th>concept</th>"
            + "".join(f"<th>{c}</th>" for c in columns)
            + "</tr>"
        )
        for caption, cells in sorted(rows.items()):
            parts.append(f"<tr><th>{html.escape(caption)}</th>")
            for col in columns:
                sample = cells.get(col)
                src = sample and images.src(sample[0], sample[2])
                if sample is None:
                    parts.append("<td></td>")
                elif src:
                    parts.append(f"<td><img src='{html.escape(src)}' width='112' "
                                 f"height='112' alt='{html.escape(caption)}'></td>")  # fmt: skip
                else:
                    parts.append(f"<td class='fail'>{html.escape(sample[2]['status'])}</td>")
            parts.append("</tr>")
        parts.append("</table>")
    return page(f"vad — {model}", "\n".join(parts))


def build_leaderboard(
    runs: list[str],
    out: str | Path,
    root: str | Path | None = None,
    clip: ClipScorer | str | None = None,
    warn: Callable[[str], None] | None = None,
) -> Path:
    """Write index.html, one page per model, one side-by-side page per language,
    <table>.csv, leaderboard.md and evidence.jsonl.

    ``clip`` is a scorer (see vad.scoring.clip.clip_scorer), or the reason there is
    none; None: no CLIP was asked for.
    """
    site = Path(out)
    site.mkdir(parents=True, exist_ok=True)
    samples, manifests, folders, warnings = _load(runs, runs_dir(root))
    for line in warnings if warn is not None else ():
        warn(line)
    clip = unavailable("no CLIP weights given") if clip is None else clip
    if isinstance(clip, str):
        note, scores = clip, None
    else:
        note = f"CLIP fidelity and diversity with {clip.name}."
        drawn = [s for s in samples if draws_images(str(s[2].get("task")))]
        scores = fidelity(drawn, folders, clip)
    run_versions = {m["run"]: m.get("prompt_versions") or {} for m in manifests}
    boards = tables(ScoringContext(samples, scores), run_versions, note)
    models = sorted({rec["model"] for _, _, rec in samples if rec.get("model")})
    model_pages = {m: file_name("model", m) for m in models}
    version, images = version_field(samples, run_versions), Images(site, folders)
    sides = {lang: (file_name("compare", lang), html_text)
             for lang, html_text in compare_pages(samples, version, images).items()}  # fmt: skip
    body = [
        "<h1>vad leaderboard</h1>",
        f"<p>{len(samples)} samples from {len(manifests)} runs. Values are means with "
        f"[low, high] intervals: {html.escape(INTERVALS_NOTE)} Click a header to sort. "
        f"{html.escape(SCORED_NOTE)}</p>",
    ]
    body += [f"<p class='warn'>warning: {html.escape(w)}</p>" for w in warnings]  # fmt: skip
    with (site / "evidence.jsonl").open("w", encoding="utf-8") as ev:
        for table in boards:
            body.append(table_html(table, model_pages))
            _write_csv(table, site / f"{table.name}.csv")
            for row in table.rows:
                ev.write(json.dumps({"table": table.name, **row.key,
                                     "lines": _compact(row)}) + "\n")  # fmt: skip
    body += [_sides_html({lang: name for lang, (name, _) in sides.items()}),
             _models_html(model_pages, samples, images), _provenance_html(manifests)]  # fmt: skip
    (site / "index.html").write_text(page("vad leaderboard", "\n".join(body)), encoding="utf-8")
    for model, name in model_pages.items():
        (site / name).write_text(_model_page(model, samples, images, version), encoding="utf-8")
    for name, html_text in sides.values():
        (site / name).write_text(html_text, encoding="utf-8")
    (site / "leaderboard.md").write_text(_markdown(boards, manifests, warnings), encoding="utf-8")
    return site


def _sides_html(pages: dict[str, str]) -> str:
    """Links to the side-by-side page of each language."""
    links = "".join(f"<li><a href='{name}'>{html.escape(lang)}</a></li>"
                    for lang, name in pages.items())  # fmt: skip
    return ("<h2 id='side-by-side'>Side by side</h2><p class='note'>Per language, every "
            "model's drawing of each concept, and its rounds of correction.</p>"
            f"<ul>{links}</ul>")  # fmt: skip


def _models_html(model_pages: dict[str, str], samples: list[Sample], images: Images) -> str:
    """Links to the model pages, each with a strip of the model's drawings."""
    items = "".join(f"<li><a href='{name}'>{html.escape(model)}</a> "
                    f"{strip(model, samples, images)}</li>"
                    for model, name in model_pages.items())  # fmt: skip
    return f"<h2>Models</h2><ul class='models'>{items}</ul>"


def _compact(row: Row) -> dict[str, list[int]]:
    lines: dict[str, list[int]] = defaultdict(list)
    for run, line in row.evidence:
        lines[run].append(line)
    return dict(lines)


def _provenance_html(manifests: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m['run'])}</td>"
        f"<td>{html.escape(', '.join(x['name'] for x in m.get('models', [])))}</td>"
        f"<td>{html.escape(json.dumps(m.get('prompt_versions')))}</td>"
        f"<td>{html.escape(json.dumps(m.get('renderer_versions')))}</td>"
        f"<td>{html.escape(str((m.get('git') or {}).get('commit')))}</td>"
        f"<td>{html.escape(str(m.get('status')))}</td></tr>"
        for m in manifests
    )
    return ("<h2>Provenance</h2><table class='prov'><tr><th>run</th><th>models</th>"
            "<th>prompt versions</th><th>renderer versions</th><th>commit</th><th>status</th>"
            f"</tr>{rows}</table>")  # fmt: skip
