"""Side by side: per language, every model's drawing of the same concept.

One page per language: a draw grid (concept rows x one column per model and prompt
version) and a correct grid (the same rows, each model's rounds as columns), filterable
by level with a select or a ``#level=NAME`` link; and the index's strip of examples per
model. Each cell is the first sample (lowest sample index) of its model and concept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from itertools import zip_longest

from vad.leaderboard.images import Images
from vad.leaderboard.page import esc, page
from vad.leaderboard.tables import Field, Sample
from vad.tasks.base import draws_images, task_class, task_names


def _in_rounds(task: str) -> bool:
    """Whether the task redoes each sample in rounds (its grid has a column per round)."""
    cls = task_class(task)
    return cls is not None and cls.round_prompts is not None


Column = tuple[str, str]  # model, prompt version
Concept = tuple[str, str]  # level, caption
Chains = dict[tuple[int, str], dict[int, Sample]]  # (sample index, run) -> round -> sample
STRIP = 6  # thumbnails per model on the index

FILTER = """
(function(){
  var select=document.getElementById('level-filter');
  function show(level){
    document.querySelectorAll('tr[data-level]').forEach(function(tr){
      tr.hidden=level!==''&&tr.dataset.level!==level;});
  }
  function fromHash(){
    var m=/^#level=(.*)$/.exec(location.hash);
    var level=m?decodeURIComponent(m[1]):'';
    select.value=level;
    if(select.value!==level){select.value='';level='';}
    show(level);
  }
  select.addEventListener('change',function(){
    location.hash=select.value?'level='+encodeURIComponent(select.value):'';
    show(select.value);});
  window.addEventListener('hashchange',fromHash);
  fromHash();
})();
"""


def file_name(prefix: str, name: str) -> str:
    """``<prefix>-<name>.html`` with every character of ``name`` but letters and digits
    as '_'."""
    return f"{prefix}-{''.join(c if c.isalnum() else '_' for c in name)}.html"


def _first(samples: list[Sample]) -> Sample:
    """The sample of lowest sample index (then run, then line)."""
    return min(samples, key=lambda s: (int(s[2].get("sample_index", 0)), s[0], s[1]))


def _pick(samples: list[Sample] | None) -> Sample | None:
    return _first(samples) if samples else None


def _cell(sample: Sample | None, images: Images, size: int = 112) -> str:
    """A grid cell: the image, the render status where there is none, '–' if not drawn."""
    if sample is None:
        return "<td class='na'>–</td>"
    run, line, rec = sample
    src = images.src(run, rec)
    if src is None:
        return f"<td class='fail'>{esc(str(rec.get('status')))}</td>"
    alt = esc(str(rec.get("caption", "")))
    return (f"<td><img src='{esc(src)}' width='{size}' height='{size}' alt='{alt}' "
            f"title='{alt}'>{images.verdict_html(run, line)}</td>")  # fmt: skip


def _column_head(column: Column, span: int = 1) -> str:
    model, version = (esc(x) for x in column)
    return (f"<th class='model' colspan='{span}' data-model='{model}' data-version='{version}'>"
            f"{model}<br><small>prompt version {version}</small></th>")  # fmt: skip


def _concept_cells(concept: Concept) -> str:
    level, caption = (esc(x) for x in concept)
    return f"<tr data-level='{level}'><td>{level}</td><th>{caption}</th>"


def _draw_grid(samples: list[Sample], version: Field, images: Images, task: str) -> str:
    """Concept rows x (model, prompt version) columns, the first sample in each cell."""
    cells: dict[tuple[Concept, Column], list[Sample]] = defaultdict(list)
    for sample in samples:
        rec = sample[2]
        concept = (str(rec.get("level")), str(rec.get("caption")))
        cells[(concept, (str(rec.get("model")), version(sample)))].append(sample)
    columns = sorted({column for _, column in cells})
    concepts = sorted({concept for concept, _ in cells})
    head = "<tr><th>level</th><th>concept</th>" + "".join(map(_column_head, columns)) + "</tr>"
    rows = [
        _concept_cells(concept)
        + "".join(_cell(_pick(cells.get((concept, c))), images) for c in columns)
        + "</tr>"
        for concept in concepts
    ]
    table_id = f"compare-{esc(task)}"
    return f"<table class='grid compare' id='{table_id}'>{head}{''.join(rows)}</table>"


def _rounds_grid(samples: list[Sample], version: Field, images: Images, task: str) -> str:
    """Concept rows x (model, prompt version) x round columns: the first sample's chain."""
    chains: dict[tuple[Concept, Column], Chains] = defaultdict(lambda: defaultdict(dict))
    rounds: dict[Column, int] = defaultdict(int)  # rounds shown per column
    for sample in samples:
        run, _, rec = sample
        concept = (str(rec.get("level")), str(rec.get("caption")))
        column, rnd = (str(rec.get("model")), version(sample)), int(rec.get("round", 0))
        chains[(concept, column)][(int(rec.get("sample_index", 0)), run)][rnd] = sample
        rounds[column] = max(rounds[column], rnd + 1)
    columns = sorted(rounds)
    heads = "".join(_column_head(c, rounds[c]) for c in columns)
    numbers = "".join(f"<th>r{r}</th>" for c in columns for r in range(rounds[c]))
    head = (f"<tr><th rowspan='2'>level</th><th rowspan='2'>concept</th>{heads}</tr>"
            f"<tr>{numbers}</tr>")  # fmt: skip
    rows = []
    for concept in sorted({concept for concept, _ in chains}):
        row = [_concept_cells(concept)]
        for c in columns:
            by_start = chains.get((concept, c), {})
            chain = by_start[min(by_start)] if by_start else {}
            row += [_cell(chain.get(r), images) for r in range(rounds[c])]
        rows.append("".join(row) + "</tr>")
    table_id = f"compare-{esc(task)}"
    return f"<table class='grid compare' id='{table_id}'>{head}{''.join(rows)}</table>"


def _filter(levels: list[str]) -> str:
    options = "".join(f"<option value='{esc(v)}'>{esc(v)}</option>"
                      for v in levels)  # fmt: skip
    return ("<p><label>level <select id='level-filter'><option value=''>all levels</option>"
            f"{options}</select></label></p>")  # fmt: skip


def compare_page(
    language: str,
    samples: list[Sample],
    version: Field,
    images: Images,
    warnings: list[str] | None = None,
) -> str:
    """The side-by-side page of one language (``samples``: those of tasks that draw)."""
    by_task: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_task[str(sample[2].get("task"))].append(sample)
    levels = sorted({str(s[2].get("level")) for s in samples})
    lang = esc(language)
    parts = [
        f"<h1>Side by side: {lang}</h1><p><a href='index.html'>← leaderboard</a></p>",
        "<p class='note'>Each cell is the first sample (lowest sample index) of its model "
        "and concept; a failed render shows its status. Every sample is on the model's "
        "page.</p>",
        _filter(levels),
    ]
    for task in task_names():
        items = by_task.get(task)
        if not items:
            continue
        name = esc(task)
        if _in_rounds(task):  # a column per round of each model
            parts += [f"<h2>{name}: rounds</h2>", _rounds_grid(items, version, images, task)]
        else:
            parts += [f"<h2>{name}</h2>", _draw_grid(items, version, images, task)]
    return page(f"vad — side by side: {language}", "\n".join(parts), FILTER, warnings)


def compare_pages(
    samples: list[Sample],
    version: Field,
    images: Images,
    warnings: Callable[[set[str]], list[str]] | None = None,
    planned: list[Sample] | None = None,
) -> dict[str, str]:
    """Language -> its side-by-side page, for each language of a task that draws.

    ``warnings`` gives the lines on runs that feed a page (its samples', and the
    ``planned`` samples of its language that no run wrote)."""
    by_language: dict[str, list[Sample]] = defaultdict(list)
    feeding: dict[str, set[str]] = defaultdict(set)
    for sample in [*samples, *(planned or [])]:
        if draws_images(str(sample[2].get("task"))):
            feeding[str(sample[2].get("language"))].add(sample[0])
    for sample in samples:
        if draws_images(str(sample[2].get("task"))):
            by_language[str(sample[2].get("language"))].append(sample)
    return {lang: compare_page(lang, by_language.get(lang, []), version, images,
                               warnings(feeding[lang]) if warnings else None)
            for lang in sorted(feeding)}  # fmt: skip


def strip(model: str, samples: list[Sample], images: Images, size: int = STRIP) -> str:
    """Up to ``size`` thumbnails of a model's rendered drawings, one per concept, taken
    from each level in turn."""
    firsts: dict[Concept, list[Sample]] = defaultdict(list)
    for sample in samples:
        rec = sample[2]
        task = str(rec.get("task"))
        first_try = draws_images(task) and not _in_rounds(task)  # a drawing, not a redraw
        if rec.get("model") == model and first_try and rec.get("status") == "ok":
            firsts[(str(rec.get("level")), str(rec.get("caption")))].append(sample)
    by_level: dict[str, list[Sample]] = defaultdict(list)
    for (level, _), items in sorted(firsts.items()):
        by_level[level].append(_first(items))
    turns = [s for turn in zip_longest(*by_level.values()) for s in turn if s is not None]
    thumbs = []
    for run, _, rec in turns:
        if len(thumbs) == size:
            break
        if (src := images.src(run, rec)) is not None:
            alt = esc(str(rec.get("caption")))
            thumbs.append(f"<img src='{esc(src)}' width='56' height='56' "
                          f"alt='{alt}' title='{alt}'>")  # fmt: skip
    return f"<span class='strip'>{''.join(thumbs)}</span>"
