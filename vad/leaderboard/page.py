"""HTML pieces: the page shell with a small sort script, and score tables."""

from __future__ import annotations

import html
import re

from vad.leaderboard.tables import Table, is_percent
from vad.scoring.stats import Estimate

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}
table.scores th{cursor:pointer;background:#f3f3f3}
td.na{color:#888;font-style:italic}
td[data-v]{white-space:nowrap}
td.fail{color:#a33;font-size:12px;width:112px;text-align:center}
.note{color:#555;font-size:13px}
.warn{color:#a33;font-weight:bold}
.strip img{margin:0 2px;border:1px solid #ddd;vertical-align:middle}
table.compare th small{color:#666;font-weight:normal}
small.ok{color:#275;font-size:11px}
small.fail{color:#a33;font-size:11px;display:inline-block;max-width:112px;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
"""
SORT = """
document.querySelectorAll('table.scores').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var rows=Array.from(t.querySelectorAll('tr')).slice(1);
      var asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
      rows.sort(function(a,b){
        var x=a.children[i].dataset.v||a.children[i].textContent;
        var y=b.children[i].dataset.v||b.children[i].textContent;
        var nx=parseFloat(x),ny=parseFloat(y);
        var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);
        return asc?c:-c;});
      rows.forEach(function(r){t.appendChild(r);});
    });
  });
});
"""


# Characters that are not text: C0 controls but tab and line breaks, DEL, C1 controls,
# lone surrogates. HTML forbids them; a terminal escape in a caption stays visible.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def visible(text: object) -> str:
    """``text`` with every control character written as its escape (ESC as '\\x1b')."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", str(text))  # fmt: skip


def esc(text: object) -> str:
    """``text`` as HTML text or attribute value: markup escaped, controls made visible."""
    return html.escape(visible(text))


def warnings_html(lines: list[str]) -> str:
    return "".join(f"<p class='warn'>warning: {esc(line)}</p>" for line in lines)


def page(title: str, body: str, script: str = "", warnings: list[str] | None = None) -> str:
    """A whole page: inline style and scripts only, so it works offline from file://.
    ``warnings`` come first in its body."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}"
            f"</title><style>{STYLE}</style></head><body>{warnings_html(warnings or [])}"
            f"{body}<script>{SORT}{script}</script></body></html>")  # fmt: skip


def table_html(table: Table, model_pages: dict[str, str]) -> str:
    head = "".join(
        f"<th>{esc(c)}</th>"
        for c in [*table.key_columns, *table.value_columns, "scored / asked", "not scored"]
    )
    rows = []
    for row in table.rows:
        cells = []
        for k in table.key_columns:
            text = esc(row.key[k])
            if k == "model" and row.key[k] in model_pages:
                text = f"<a href='{esc(model_pages[row.key[k]])}'>{text}</a>"
            cells.append(f"<td>{text}</td>")
        for col in table.value_columns:
            value = row.values[col]
            if isinstance(value, Estimate):
                text = value.format(percent=is_percent(col))
                cells.append(f"<td data-v='{value.mean:.6f}'>{text}</td>")
            else:
                cells.append(f"<td class='na'>{esc(value)}</td>")
        if row.unfinished:
            cells.append(f"<td data-v='{row.scored}' class='warn'>{row.scored} / {row.asked}"
                         f"<br><small>did not finish: {esc(row.unfinished_text())}</small>"
                         "</td>")  # fmt: skip
        else:
            cells.append(f"<td data-v='{row.scored}'>{row.scored} / {row.asked}</td>")
        missed = "warn" if row.not_scored else ""
        cells.append(f"<td class='{missed}'>{esc(row.not_scored_text())}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    span = len(table.key_columns) + len(table.value_columns) + 2
    body = "".join(rows) or f"<tr><td colspan='{span}'>no samples</td></tr>"
    return (f"<h2 id='{esc(table.name)}'>{esc(table.title)}</h2><p class='note'>"
            f"{esc(table.note)}</p><table class='scores' id='table-{esc(table.name)}'>"
            f"<tr>{head}</tr>{body}</table>")  # fmt: skip
