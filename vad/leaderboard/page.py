"""A score table as the templates show it (macros.html ``score_table``)."""

from __future__ import annotations

from typing import Any

from vad.leaderboard.tables import Table, is_percent
from vad.scoring.stats import Estimate


def table_view(table: Table, model_pages: dict[str, str]) -> dict[str, Any]:
    """The table's head and rows as cells: text, a sort value, a class, a link."""
    head = [*table.key_columns, *table.value_columns, "scored / asked", "not scored"]
    rows = []
    for row in table.rows:
        cells: list[dict[str, Any]] = []
        for k in table.key_columns:
            page = model_pages.get(row.key[k]) if k == "model" else None
            cells.append(_cell(row.key[k], href=page))
        for col in table.value_columns:
            value = row.values[col]
            if isinstance(value, Estimate):
                cells.append(_cell(value.format(percent=is_percent(col)), v=f"{value.mean:.6f}"))
            else:
                cells.append(_cell(value, cls="na"))
        if row.unfinished:
            cells.append(_cell(f"{row.scored} / {row.asked}", v=row.scored, cls="warn",
                               small=f"did not finish: {row.unfinished_text()}"))  # fmt: skip
        else:
            cells.append(_cell(f"{row.scored} / {row.asked}", v=row.scored))
        cells.append(_cell(row.not_scored_text(), cls="warn" if row.not_scored else ""))
        rows.append(cells)
    return {"name": table.name, "title": table.title, "note": table.note, "head": head,
            "rows": rows}  # fmt: skip


def _cell(text: object, v: object = None, cls: str = "", href: str | None = None,
          small: str = "") -> dict[str, Any]:  # fmt: skip
    return {"text": str(text), "v": v, "cls": cls, "href": href, "small": small}
