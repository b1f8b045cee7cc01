"""Every page of the site in real Chromium (Playwright): a drawing clicked anywhere opens
its sample page (prompt, reply, code, scores; a correction's rounds with the feedback
each was sent), and hostile text from models — in captions, replies, code, reasons, a
judge's reason, a model's and a run's name — is shown as text on every page and executes
nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from browser import chromium, watch
from PIL import Image, ImageDraw

from vad.leaderboard.build import build_leaderboard

# Each one would run script if it reached the page as markup (or a URL); every one sets
# window.__pwned or opens a dialog.
HOSTILE = [
    '<script>window.__pwned=1;alert("s")</script>',
    '"><img src=x onerror="window.__pwned=2;alert(2)">',
    "'><svg onload=alert('v')>",
    "javascript:window.__pwned=3",
    '</pre></textarea><script>alert("t")</script>',
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert("svg")</script></svg>',
    "{{7*7}} {% raw %}",  # a template's own syntax: shown as written
    "\u2028</script><script>alert('ls')</script>",
    "\x1b[31mred\x1b[0m",
]
MODEL = 'openai/"><img src=x onerror=alert("m")>'
RUN = "run-'\"><svg onload=alert(1)>"


def _png(colour: str) -> bytes:
    image = Image.new("RGB", (224, 224), "white")
    ImageDraw.Draw(image).rectangle((60, 60, 160, 160), fill=colour)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _record(i: int, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "sample_id": f"draw:{MODEL}:svg:c{i}:0", "task": "draw", "concept_id": f"c{i}",
        "level": "objects", "caption": f"a thing {i} {text}", "language": "svg",
        "model": MODEL, "style": "chat", "sample_index": 0, "prompt_version": "1",
        "temperature": 0.8, "max_tokens": 768, "request_key": f"k{i}",
        "prompt": {"messages": [{"role": "user", "content": f"Draw {text}"}], "stop": None},
        "raw_reply": f"Sure! {text}\n```svg\n<svg>{text}</svg>\n```",
        "code": f'<svg xmlns="http://www.w3.org/2000/svg"><text>{text}</text>'
                f"<script>alert({i})</script></svg>",
        "prompt_tokens": 10, "completion_tokens": 20, "cost_usd": 0.001, "latency_s": 1.5,
        **extra,
    }  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    folder = root / RUN
    (folder / "images").mkdir(parents=True)
    records = []
    for i, text in enumerate(HOSTILE):
        rel = f"images/c{i}.png"
        (folder / rel).write_bytes(_png("red"))
        records.append(_record(i, text, status="ok", image=rel))
    records.append(_record(90, HOSTILE[1], status="syntax_error", image=None,
                           render={"status": "syntax_error", "reason": HOSTILE[0]}))  # fmt: skip
    for r in range(3):  # a chain of corrections: round 0 draws, rounds 1-2 correct
        rel = f"images/chain_r{r}.png"
        (folder / rel).write_bytes(_png(["red", "green", "blue"][r]))
        records.append({**_record(50, "a red square"), "task": "correct", "round": r,
                        "sample_id": f"correct:{MODEL}:svg:c50:0:r{r}", "image": rel,
                        "status": "ok" if r != 1 else "syntax_error",
                        "render": {"status": "ok", "reason": f"round {r} reason"},
                        "code": f"<svg><!-- round {r} --></svg>"})  # fmt: skip
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "manifest.json").write_text(json.dumps({"status": "finished", "spec": {}}))
    judged = {"judge": "openai/gpt-4o", "kind": "fidelity", "prompt_version": "2",
              "temperature": 0.0, "max_tokens": 96, "run": RUN, "line": 1, "model": MODEL,
              "sample_id": records[0]["sample_id"], "parsed": True, "score": 3,
              "reason": HOSTILE[1], "raw_reply": HOSTILE[0], "task": "draw",
              "level": "objects", "language": "svg", "request_keys": ["j1"]}  # fmt: skip
    (folder / "judgements.jsonl").write_text(json.dumps(judged) + "\n")
    out = tmp_path_factory.mktemp("site") / "site"
    build_leaderboard([str(folder)], out, root)
    return out


def _pages(site: Path) -> list[Path]:
    return sorted(site.glob("*.html"))


@pytest.mark.slow
def test_hostile_text_executes_nothing_on_any_page(site: Path) -> None:
    urls = [p.resolve().as_uri() for p in _pages(site)]
    sample = (site / "sample.html").resolve().as_uri()
    from urllib.parse import quote

    urls += [f"{sample}#run={quote(RUN, safe='')}&line={n}" for n in range(1, 14)]
    with chromium() as browser:
        page = browser.new_page()
        seen = watch(page)
        for url in urls:
            page.goto(url)
            page.wait_for_load_state("load")
            page.wait_for_timeout(50)  # handlers that would fire after load
            assert page.evaluate("window.__pwned") is None, url
        assert seen == {"dialogs": [], "errors": []}
        # the sample page shows the hostile texts as text, exactly
        page.goto(f"{sample}#run={quote(RUN, safe='')}&line=1")
        page.wait_for_selector("#sample:not([hidden])")
        assert page.inner_text("#caption") == f"a thing 0 {HOSTILE[0]}"
        assert HOSTILE[0] in page.inner_text("#reply")
        assert "<script>alert(0)</script>" in page.inner_text("#code")
        assert page.locator("#code span").count() > 3  # highlighted by Pygments
        scores = page.inner_text("#scores")
        assert "openai/gpt-4o · fidelity: 3/10" in scores and HOSTILE[1] in scores
        page.goto(f"{sample}#run={quote(RUN, safe='')}&line=7")
        page.wait_for_selector("#sample:not([hidden])")
        assert page.inner_text("#caption") == "a thing 6 {{7*7}} {% raw %}"
        page.goto(f"{sample}#run={quote(RUN, safe='')}&line=9")
        page.wait_for_selector("#sample:not([hidden])")
        assert "\\x1b[31mred" in page.inner_text("#caption")  # the escape made visible
        page.goto(f"{sample}#run={quote(RUN, safe='')}&line=10")  # the failed render
        page.wait_for_selector("#sample:not([hidden])")
        assert HOSTILE[0] in page.inner_text("#render")
        assert page.is_hidden("#image") and "syntax_error" in page.inner_text("#no-image")
        assert seen == {"dialogs": [], "errors": []}


@pytest.mark.slow
def test_a_drawing_clicked_opens_its_sample_and_a_chain_its_rounds(site: Path) -> None:
    with chromium() as browser:
        page = browser.new_page()
        seen = watch(page)
        page.goto((site / "index.html").resolve().as_uri())
        page.click("a.sample")  # a thumbnail of the model's strip
        page.wait_for_selector("#sample:not([hidden])")
        assert page.url.split("#")[0].endswith("/sample.html")
        assert page.inner_text("#reply").startswith("Sure!")
        assert page.inner_text("h2 >> nth=2") == "Prompt as sent"
        assert "Draw " in page.inner_text("#prompt")
        fields = page.inner_text("#fields")
        assert "cost (USD)\n0.001" in fields and "latency (s)\n1.5" in fields
        compare = next(p for p in _pages(site) if p.name.startswith("compare-"))
        page.goto(compare.resolve().as_uri())
        page.click("#compare-correct a.sample >> nth=1")  # round 1 of the chain
        page.wait_for_selector("#chain-box:not([hidden])")
        page.wait_for_function("document.querySelectorAll('#chain > div pre').length >= 5")
        chain = page.inner_text("#chain")
        assert "round 0" in chain and "round 1 (this sample)" in chain and "round 2" in chain
        assert "feedback sent:" in chain
        assert "Rendering it failed (syntax_error): round 1 reason. Fix this." in chain
        assert "It renders without errors." in chain  # round 1's feedback on round 0
        page.click("#chain h3 a >> nth=2")  # to round 2's own page
        page.wait_for_function("location.hash.endsWith('line=13')")
        page.wait_for_selector("text=round 2 (this sample)")
        page.goto((site / "sample.html").resolve().as_uri() + "#run=nowhere&line=1")
        page.wait_for_selector("#missing:not([hidden])")
        assert "no sample nowhere line 1" in page.inner_text("#missing")
        assert seen == {"dialogs": [], "errors": []}
