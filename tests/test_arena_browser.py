"""`vad arena` in real Chromium (Playwright) against a real uvicorn server: votes by mouse
and by keyboard, each stored in SQLite and followed by a new pair until none is left; a
ratings page opened before the first vote follows them live; hostile captions (and a
hostile model name) are shown as text and execute nothing; the votes export as JSON
lines."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from browser import chromium, watch
from test_arena import make_run

from vad.arena.app import LOOPBACK_HOSTS, make_app
from vad.cli import main

pytestmark = pytest.mark.slow

CAPTIONS = {
    "c-red": "a red circle",
    "c-img": "<img src=x onerror=alert(1)>",
    "c-script": "<script>alert(2)</script>",
    "c-blue": "a blue square",
}
HOSTILE_CAPTIONS = {CAPTIONS["c-img"], CAPTIONS["c-script"]}
HOSTILE_MODEL = "evil/<img src=x onerror=alert(3)>"
MODELS = ("openai/model-a", "openai/model-b", HOSTILE_MODEL)
PAIRS = len(CAPTIONS) * 3  # three pairs of models per concept
# How each vote is given (a selector to click, or a key to press) and the choice it means:
# every way the page offers, one vote per pair.
INPUTS = [
    ("#left", "left"),  # the left drawing itself
    ("ArrowRight", "right"),
    ("ArrowLeft", "left"),
    ("t", "tie"),
    ("b", "bad"),
    ("#vote-left", "left"),
    ("#right", "right"),
    ("ArrowDown", "tie"),
    ("#vote-right", "right"),
    ("#tie", "tie"),
    ("#bad", "bad"),
    ("ArrowLeft", "left"),
]
TIMEOUT_MS = 15_000  # the ratings page polls every 3 s
COUNTS = ("votes", "wins", "losses", "ties", "bad")


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port, in a thread; its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", server_header=False)
    )
    thread = threading.Thread(target=server.run, name="arena-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the arena did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(20)
        assert not thread.is_alive(), "the arena did not stop"


def db_rows(db: Path, table: str) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(f"SELECT * FROM {table} ORDER BY rowid")]


def shown_row(db: Path, token: str) -> dict[str, Any]:
    (row,) = [r for r in db_rows(db, "shown") if r["token"] == token]
    return row


def table_rows(page: Any) -> list[list[str]]:
    """The ratings table's rows, as the text of their cells."""
    rows = page.locator("#ratings-rows tr")
    return [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]


def expected_counts(votes: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per model, its counts of votes, wins, losses, ties and both-bad, from the votes."""
    counts: dict[str, dict[str, int]] = {}
    for v in votes:
        for side, other in (("left", "right"), ("right", "left")):
            row = counts.setdefault(v[f"{side}_model"], dict.fromkeys(COUNTS, 0))
            row["votes"] += 1
            row[{side: "wins", other: "losses", "tie": "ties", "bad": "bad"}[v["choice"]]] += 1
    return counts


def shown_counts(rows: list[list[str]]) -> dict[str, dict[str, int]]:
    return {r[1]: dict(zip(COUNTS, map(int, r[4:9]), strict=True)) for r in rows}


def test_votes_by_mouse_and_keyboard_in_chromium(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from playwright.sync_api import expect

    root = tmp_path / "runs"
    make_run(root, "run-a", list(MODELS[:2]), CAPTIONS)
    make_run(root, "run-b", [MODELS[2]], CAPTIONS)
    db = tmp_path / "votes.sqlite"
    app = make_app(["run-a", "run-b"], root, db, seed=0, hosts=LOOPBACK_HOSTS)
    assert app.state.arena.pool.size == PAIRS == len(INPUTS)

    with serve(app) as url, chromium() as browser:
        # the ratings, open before any vote, in another browser context (another person)
        watcher = browser.new_context().new_page()
        watcher_seen = watch(watcher)
        navigations: list[str] = []
        watcher.on("request", lambda r: r.is_navigation_request() and navigations.append(r.url))
        watcher.goto(url + "ratings")
        expect(watcher.locator("#total")).to_have_text("0")
        assert table_rows(watcher) == []

        page = browser.new_context().new_page()
        seen = watch(page)
        images: list[tuple[int, str]] = []
        page.on("response", lambda r: "/image/" in r.url
                and images.append((r.status, r.headers.get("content-type", ""))))  # fmt: skip
        page.goto(url)
        arena, caption = page.locator("#arena"), page.locator("#caption")
        server_rendered = {caption.inner_text()}
        captions: list[str] = []
        for n, (how, choice) in enumerate(INPUTS, 1):
            token = arena.get_attribute("data-token")
            assert token
            pair = shown_row(db, token)
            assert pair["left_model"] != pair["right_model"]
            # the caption of the pair's concept, as text: no element made of it
            expect(caption).to_have_text(CAPTIONS[pair["concept_id"]])
            assert caption.locator("*").count() == 0
            assert page.locator("img").count() == 2 and page.locator("script").count() == 1
            text = page.locator("body").inner_text()
            assert not any(m in text for m in (*MODELS, "model-a", "evil")), "not blind"
            captions.append(caption.inner_text())

            if how.startswith("#"):
                page.click(how)
            else:
                page.keyboard.press(how)
            expect(page.locator("#count")).to_have_text(str(n))
            votes = db_rows(db, "votes")
            assert len(votes) == n, how
            assert (votes[-1]["token"], votes[-1]["choice"]) == (token, choice), how
            assert votes[-1]["left_model"] == pair["left_model"]
            if n < PAIRS:  # a new pair, shown once its drawings are decoded
                expect(arena).not_to_have_attribute("data-token", token)
                expect(page.locator("#pair")).not_to_have_class(re.compile(r"\bloading\b"))
                expect(page.locator("#done")).to_be_hidden()
            if n == 1:  # the open ratings page shows the first vote, by itself
                expect(watcher.locator("#total")).to_have_text("1", timeout=TIMEOUT_MS)
                rows = table_rows(watcher)
                left = dict.fromkeys(COUNTS, 0) | {"votes": 1, "wins": 1}
                right = dict.fromkeys(COUNTS, 0) | {"votes": 1, "losses": 1}
                assert shown_counts(rows) == {pair["left_model"]: left,
                                              pair["right_model"]: right}  # fmt: skip
                assert [r[1] for r in rows] == [pair["left_model"], pair["right_model"]]
                assert all(re.fullmatch(r"-?\d+\.\d\d", r[2]) for r in rows), rows

        # no more pairs: every pair of every concept shown once, each hostile caption too
        expect(page.locator("#done")).to_be_visible()
        expect(page.locator("#pair")).to_be_hidden()
        assert sorted(captions) == sorted(c for c in CAPTIONS.values() for _ in range(3))
        keys = {r["pair"] for r in db_rows(db, "shown")}
        assert len(keys) == PAIRS
        page.keyboard.press("ArrowLeft")  # nothing left to vote on
        page.click("#done a")  # the page's link to the ratings
        expect(page).to_have_url(url + "ratings")
        expect(page.locator("#total")).to_have_text(str(PAIRS))
        page.goto(url)  # a reload: still none
        expect(page.locator("#done")).to_be_visible()
        assert len(db_rows(db, "votes")) == PAIRS
        assert all(status == 200 and kind == "image/png" for status, kind in images), images
        assert len(images) >= 2 * PAIRS

        # the live table: every vote counted, as the server itself renders it fresh
        votes = db_rows(db, "votes")
        expect(watcher.locator("#total")).to_have_text(str(PAIRS), timeout=TIMEOUT_MS)
        live = table_rows(watcher)
        assert shown_counts(live) == expected_counts(votes)
        assert {m: c["votes"] for m, c in shown_counts(live).items()} == dict.fromkeys(MODELS, 8)
        assert navigations == [url + "ratings"]  # updated in place, never reloaded
        fresh = browser.new_context().new_page()
        fresh_seen = watch(fresh)
        fresh.goto(url + "ratings")
        assert table_rows(fresh) == live
        assert fresh.locator("#ratings-rows img").count() == 0  # the hostile model's name

        # the first pair a page shows is rendered by the server (later ones by the page's
        # script): new voters until both hostile captions came that way too
        others = []
        for _ in range(12):
            if server_rendered >= HOSTILE_CAPTIONS:
                break
            other = browser.new_context().new_page()
            others.append(watch(other))
            other.goto(url)
            server_rendered.add(other.locator("#caption").inner_text())
            assert other.locator("#caption *").count() == 0
        assert server_rendered >= HOSTILE_CAPTIONS

        for what in (seen, watcher_seen, fresh_seen, *others):
            assert what == {"dialogs": [], "errors": []}

        # the votes export as JSON lines while the arena runs
        out = tmp_path / "votes.jsonl"
        assert main(["arena", "run-a", "run-b", "--db", str(db), "--export-votes", str(out)]) == 0
        assert f"{PAIRS} vote(s) written" in capsys.readouterr().out
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert [{k: v[k] for k in line} for v, line in zip(votes, lines, strict=True)] == lines
        assert [line["choice"] for line in lines] == [choice for _, choice in INPUTS]
        assert len({line["voter"] for line in lines}) == 1
        assert set(lines[0]) >= {"id", "voter", "left_model", "right_model", "concept_id",
                                 "choice", "created_at"}  # fmt: skip
