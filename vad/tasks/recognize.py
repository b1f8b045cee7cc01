"""Recognize: given drawing code without the concept's name, say what it depicts.

Code comes from reference drawings of shape concepts (known ground truth, every
language) or from the ok samples of earlier runs (model A reads model B's code).
Comments, <title> and <desc> are stripped first, since they often name the concept.
Multiple choice offers K options (distractors from the same level, seeded by the
sample); free answers are scored by normalised exact match and by containment.
"""

from __future__ import annotations

import hashlib
import random
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vad.concepts import Concept, load_concepts
from vad.languages import get_language, reference_program
from vad.models import ResolvedModel
from vad.prompts import load_prompts
from vad.rundir import find_run, latest, scan_samples
from vad.tasks.base import (
    Job,
    Option,
    TableSpec,
    Task,
    integer_option,
    names_option,
    register_task,
)
from vad.tasks.context import JobContext

if TYPE_CHECKING:  # the spec looks tasks up: tasks name it in annotations only
    from vad.spec import RunSpec

LETTERS = "ABCDEFGHIJ"
MODES = ("choice", "free")
_ARTICLES = {"a", "an", "the"}


def language_name(language: str) -> str:
    """How prompts name a language ("Python (matplotlib)")."""
    return get_language(language).display


def strip_hints(code: str, language: str) -> str:
    """Remove comments (and SVG title/desc) that could name what is drawn."""
    return get_language(language).strip_hints(code)


def normalise(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return " ".join(w for w in words if w not in _ARTICLES)


_FENCED = re.compile(r"(```|~~~).*?(\1|\Z)", re.S)
_CODE_START = re.compile(  # a first line of code in a drawing language
    r"^(?:<|```|~~~|\\(?:begin|documentclass|draw|fill|usepackage)\b|plt\.|"
    r"(?:import|from)\s+[\w.]+(?:\s+import\b|\s*$)|(?:function|void)\s+\w+\s*\(|def\s+\w+\s*\()",
    re.M,
)
_EMPHASIS = re.compile(r"[*_`]+")
# "Answer: C", "The answer is (C)", "option C", "I choose C", "it is C": a label, then
# the letter (a capital; "A" or "I" before a lower-case word is a word, not a letter).
_LABELLED = re.compile(
    r"(?i:\b(?:answer|option|choice|choose|pick|select|it\s+is|it's|that's|matches)\b"
    r"(?:\s+(?:is|would\s+be))?)"
    r"\s*[:=\-]?\s*[\(\[]?\s*([A-Z])(?![A-Za-z0-9'#])"
)
_WORD_AFTER = re.compile(r"\s+[a-z]")
# The reply opens with the letter: "C", "C.", "(C)", "C) a red square", "C: ...", or a
# capital that is no English word before one: "B is the blue square".
_LEADING = re.compile(r"^[\(\[]?\s*([A-Z])\s*(?:[\)\]\.:,;!]|$)|^([B-HJ])\s+\w")
# ... or ends with it: "The drawing matches B."
_TRAILING = re.compile(r"(?<![\w#'])\(?([A-J])\)?\s*[.!]?\s*$")


def is_code(reply: str) -> bool:
    """Whether a reply is code rather than an answer: it opens as code, or code blocks
    make up most of it (a sentence that names a language or a tag is still an answer)."""
    text = reply.strip()
    if not text:
        return False
    if _CODE_START.match(text):
        return True
    fenced = sum(len(m.group(0)) for m in _FENCED.finditer(text))
    return fenced >= len(text) / 2


def parse_choice(answer: str, options: list[str]) -> int | None:
    """Index of the chosen option, or None when the reply names none of them.

    A letter counts only in answer position: after a label ("Answer: C", "the answer is
    (C)", "it matches C"), as the reply's opening ("C.", "(C)", "C) a red square") or its
    end ("... matches B."). A capital that is a word of a caption ("A large blue
    circle") or part of a colour ("#B03A2E") is not a letter answer. Otherwise the reply
    is matched against the options' texts: the option it states exactly, else the one
    option whose text it contains (an option inside a longer hit, "red circle" in "large
    red circle", does not count). A reply that is code answers nothing.
    """
    if is_code(answer or ""):
        return None
    text = _EMPHASIS.sub("", answer or "").strip()
    if not text:
        return None
    letters = LETTERS[: len(options)]
    named = {m.group(1) for m in _LABELLED.finditer(text)
             if not (m.group(1) in "AI" and _WORD_AFTER.match(text, m.end()))}  # fmt: skip
    if len(named) == 1:
        only = named.pop()
        return letters.index(only) if only in letters else None
    lead = _LEADING.match(text.splitlines()[0].strip())
    found = lead and (lead.group(1) or lead.group(2))
    if not found and (tail := _TRAILING.search(text)):
        found = tail.group(1)
    if found and found in letters:
        return letters.index(found)
    said = normalise(text)
    texts = [normalise(option) for option in options]
    exact = [i for i, t in enumerate(texts) if t and t == said]
    if len(exact) == 1:
        return exact[0]
    hits = [i for i, t in enumerate(texts) if t and re.search(rf"\b{re.escape(t)}\b", said)]
    hits = [i for i in hits if not any(j != i and texts[i] in texts[j] for j in hits)]
    return hits[0] if len(hits) == 1 else None


def _seeded(text: str) -> random.Random:
    return random.Random(int(hashlib.sha256(text.encode()).hexdigest()[:16], 16))


@register_task("recognize")
class RecognizeTask(Task):
    order = 20
    options: ClassVar[dict[str, Option]] = {
        "modes": names_option(["choice", "free"], MODES),
        "options": integer_option(5, 2, len(LETTERS), in_rows=True),  # K of a choice
        "sources": names_option(["reference"]),  # reference, or earlier runs
        "languages": names_option(None),  # of the code read (default: the run's)
    }
    hash_empty_options = True
    table = TableSpec(
        "Recognize",
        ("model", "prompt version", "mode", "source_model", "language"),
        (("accuracy %", "accuracy"), ("contains %", "contains")),
        "Multiple choice among the options shown; free answers by normalised exact "
        "match and by containment of the caption.",
    )

    def __init__(self) -> None:
        self.prompts = load_prompts("recognize")

    def versions(self) -> dict[str, Any]:
        return {"recognize": self.prompts.version}

    def _sources(
        self, spec: RunSpec, concepts: list[Concept], runs_root: Path
    ) -> list[dict[str, Any]]:
        options = self.settings(spec)
        languages = list(options["languages"] or spec.languages)
        items: list[dict[str, Any]] = []
        by_id = {
            c.id: c for c in load_concepts(spec.levels or None, extra_files=spec.concept_files)
        }
        for source in options["sources"]:
            if source == "reference":
                items += [{"concept": c, "language": lang, "code": reference_program(c, lang),
                           "source": "reference", "source_model": "reference"}
                          for lang in languages for c in concepts
                          if c.level == "shapes" and "shape" in c.attrs]  # fmt: skip
                continue
            folder = find_run(runs_root, source)
            scan = scan_samples(folder.samples_path)
            if note := scan.note(folder.samples_path):
                print(f"warning: {note}", file=sys.stderr)
            for _, r in latest(scan.records):
                if (
                    r.get("status") == "ok"
                    and r.get("code")
                    and r["concept_id"] in by_id
                    and r["language"] in languages
                ):
                    items.append(
                        {
                            "concept": by_id[r["concept_id"]],
                            "language": r["language"],
                            "code": r["code"],
                            "source": folder.path.name,
                            "source_model": r["model"],
                            "source_sample": r["sample_id"],
                        }
                    )
        return items

    def jobs(
        self,
        spec: RunSpec,
        concepts: list[Concept],
        models: list[tuple[ResolvedModel, str]],
        runs_root: Path,
    ) -> list[Job]:
        settings = self.settings(spec)
        modes, k = list(settings["modes"]), int(settings["options"])
        pool_by_level: dict[str, list[Concept]] = {}
        jobs = []
        for item in self._sources(spec, concepts, runs_root):
            concept = item["concept"]
            if concept.level not in pool_by_level:
                pool_by_level[concept.level] = load_concepts(
                    [concept.level], extra_files=spec.concept_files
                )
            tag = item.get("source_sample", f"reference:{item['language']}:{concept.id}")
            for model, style in models:
                for mode in modes:
                    for index in range(spec.samples):
                        sid = f"recognize:{mode}:{model.name}:{item['source']}:{tag}:{index}"
                        extra = {**item, "mode": mode}
                        if mode == "choice":
                            rng = _seeded(sid)
                            others = [c for c in pool_by_level[concept.level] if c.id != concept.id]
                            options = [concept, *rng.sample(others, k - 1)]
                            rng.shuffle(options)
                            extra["options"] = [c.caption for c in options]
                            extra["answer"] = options.index(concept)
                        extra.pop("concept")
                        jobs.append(Job(sid, "recognize", concept, model, style,
                                        item["language"], index, extra))  # fmt: skip
        return jobs

    def run(self, job: Job, ctx: JobContext) -> None:
        x = job.extra
        code = strip_hints(x["code"], job.language)
        values: dict[str, Any] = {
            "language": language_name(job.language),
            "code": code,
        }
        if x["mode"] == "choice":
            values["options"] = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(x["options"]))
            values["letters"] = ", ".join(LETTERS[: len(x["options"])])
        prompt = self.prompts.render(x["mode"], job.style, values)
        asked = ctx.ask(job.sample_index, prompt)
        record = {**job.record(), **asked.record, "mode": x["mode"], "source": x["source"],
                  "source_model": x["source_model"], "source_sample": x.get("source_sample"),
                  "code": code}  # fmt: skip
        if asked.reply is None:
            ctx.write({**record, "status": "model_error", "error": asked.error})
            return
        answer = asked.reply.text.strip()
        if x["mode"] == "choice":
            chosen = parse_choice(answer, x["options"])
            record.update(options=x["options"], answer=x["answer"], predicted=chosen,
                          correct=chosen == x["answer"],
                          status="ok" if chosen is not None else "no_answer")  # fmt: skip
            if chosen is None:
                record["error"] = ("the reply is code, not an answer" if is_code(answer)
                                   else "the reply names none of the options")  # fmt: skip
        else:
            said, truth = normalise(answer), normalise(job.concept.caption)
            record.update(predicted=answer[:300], correct=bool(said) and said == truth,
                          correct_contains=bool(truth) and truth in said,
                          status="ok" if said else "no_answer")  # fmt: skip
        ctx.write(record)
