"""`vad bench verifier`: the shapes verifier against references and mutants, per language.

Shape concepts are drawn by each language's reference writer as they are and as mutants
(vad/concepts/mutants.py), rendered in the jail, and verified from the PNG alone. A
reference or a nuisance (outlines only, a coloured background, parts turned) is right
when it verifies; a mutant with one attribute changed is right when exactly that
attribute fails. The confusion table counts, for each kind of drawing, how often each
attribute failed.
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from vad.concepts import Concept, load_concepts
from vad.concepts.mutants import KINDS, Mutant, mutants
from vad.languages import language_names, reference_program
from vad.render import RenderPool
from vad.scoring.verifier import ATTRIBUTES, Verdict, verify


@dataclass
class Case:
    """One drawing: a concept, a language, a mutant, and what came of it."""

    concept: Concept
    language: str
    mutant: Mutant
    rendered: bool = False
    verdict: Verdict | None = None
    error: str = ""  # the verifier failed on it

    @property
    def right(self) -> bool:
        """Verified, for a reference or nuisance; exactly the changed attribute failed,
        for a mutant."""
        if self.verdict is None:
            return False
        if self.mutant.changed is None:
            return self.verdict.verified
        return self.verdict.failed == [self.mutant.changed]


@dataclass
class Report:
    cases: list[Case] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)

    def rate(self, kind: str, language: str | None = None) -> tuple[int, int]:
        mine = [c for c in self.cases if c.mutant.kind == kind and c.rendered
                and (language is None or c.language == language)]  # fmt: skip
        return sum(c.right for c in mine), len(mine)

    def confusion(self) -> dict[str, Counter[str]]:
        """Per kind of drawing: how many failed each attribute (and "n": how many)."""
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for case in self.cases:
            if case.verdict is None:
                continue
            row = out[case.mutant.kind]
            row["n"] += 1
            row.update(case.verdict.failed)
        return out


def pick_concepts(per_kind: int, seed: int) -> list[Concept]:
    """Shape concepts evenly over the four kinds (position, size, group, pair)."""
    concepts = load_concepts(["shapes"])
    by_kind: dict[str, list[Concept]] = defaultdict(list)
    for c in concepts:
        a = c.attrs
        kind = a["kind"] if a["kind"] != "single" else ("size" if "size" in a else "position")
        by_kind[kind].append(c)
    rng = random.Random(seed)
    picked = []
    for kind in sorted(by_kind):
        picked += rng.sample(by_kind[kind], min(per_kind, len(by_kind[kind])))
    return picked


def run_bench(
    per_kind: int = 10,
    languages: Iterable[str] | None = None,
    seed: int = 0,
    workers: int = 2,
    say: Callable[[str], None] | None = None,
) -> Report:
    """Render and verify every mutant of ``per_kind`` concepts of each kind in each
    language."""
    langs = list(languages or language_names())
    concepts = pick_concepts(per_kind, seed)
    report = Report(languages=langs)
    for lang in langs:
        for concept in concepts:
            for mutant in mutants(concept, seed):
                report.cases.append(Case(concept, lang, mutant))
    with tempfile.TemporaryDirectory(prefix="vad-verifier-") as tmp, \
            RenderPool(size=workers, sandbox=True) as pool:  # fmt: skip

        def one(index: int) -> None:
            case = report.cases[index]
            code = reference_program(case.concept, case.language, case.mutant.style,
                                     case.mutant.prims)  # fmt: skip
            dest = Path(tmp) / f"{index}.png"
            result = pool.render(case.language, code, 224, 224, dest)
            case.rendered = result.ok
            if result.ok:
                try:
                    case.verdict = verify(dest, case.concept.attrs)
                except Exception as exc:  # counted as wrong, named in the failures
                    case.error = f"{type(exc).__name__}: {exc}"
                dest.unlink()

        with ThreadPoolExecutor(workers) as executor:
            for done, _ in enumerate(executor.map(one, range(len(report.cases))), 1):
                if say is not None and done % 200 == 0:
                    say(f"{done}/{len(report.cases)} drawings")
    return report


def _pct(right: int, n: int) -> str:
    return f"{100 * right / n:.1f}% ({right}/{n})" if n else "–"


def format_report(report: Report) -> str:
    """Two Markdown tables: right per kind and language; the confusion table."""
    kinds = [k for k in KINDS if any(c.mutant.kind == k for c in report.cases)]
    lines = ["| drawing | changed | " + " | ".join(report.languages) + " | all |",
             "|---|---|" + "---|" * (len(report.languages) + 1)]  # fmt: skip
    changed = {c.mutant.kind: c.mutant.changed for c in report.cases}
    for kind in kinds:
        cells = [_pct(*report.rate(kind, lang)) for lang in report.languages]
        lines.append(f"| {kind} | {changed[kind] or '(none: must verify)'} | "
                     + " | ".join(cells) + f" | {_pct(*report.rate(kind))} |")  # fmt: skip
    confusion = report.confusion()
    lines += ["", "Confusion: share of the drawings of each kind (all languages) on which "
              "each attribute failed (the changed attribute should fail on all of them, "
              "every other on none).", "",
              "| drawing | n | " + " | ".join(ATTRIBUTES) + " |",
              "|---|---|" + "---|" * len(ATTRIBUTES)]  # fmt: skip
    for kind in kinds:
        row = confusion.get(kind, Counter())
        n = row["n"]
        cells = [f"{100 * row[a] / n:.1f}" if n else "–" for a in ATTRIBUTES]
        lines.append(f"| {kind} | {n} | " + " | ".join(cells) + " |")
    unrendered = [c for c in report.cases if not c.rendered]
    if unrendered:
        lines.append(f"\n{len(unrendered)} drawings did not render (left out).")
    return "\n".join(lines)


def meets(report: Report) -> bool:
    """References verify at least 98% of the time, each other kind is right at least 95%."""
    for kind in KINDS:
        right, n = report.rate(kind)
        if n and right / n < (0.98 if kind == "reference" else 0.95):
            return False
    return True


def failures(report: Report, limit: int = 20) -> list[str]:
    """Lines naming drawings the verifier got wrong, with its reasons."""
    out = [f"{c.language} {c.concept.id} [{c.mutant.kind}]: verifier error: {c.error}"
           for c in report.cases if c.error]  # fmt: skip
    for case in report.cases:
        if case.rendered and not case.right and case.verdict is not None:
            out.append(f"{case.language} {case.concept.id} [{case.mutant.kind}]: failed "
                       f"{case.verdict.failed or 'nothing'}; {case.verdict.reason}")  # fmt: skip
    return out[:limit]
