"""`vad arena`: blind pairwise votes of people, through Starlette's TestClient (no
server, no network) over small run folders of three models drawing the same concepts."""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient

from vad.arena.app import LOOPBACK_HOSTS, VOTER_COOKIE, make_app
from vad.arena.pairs import Pool, pair_key
from vad.arena.votes import VoteStore, ratings
from vad.cli import main
from vad.cli_arena import DB_NAME

HEADERS = {"X-Vad-Arena": "1"}
CONCEPTS = {"c-red": "a red circle", "c-blue": "a blue square", "c-green": "a green star"}
HOSTILE = {"c-x": "<script>alert(1)</script>", "c-y": '"><img src=x onerror=alert(1)>'}


def png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 0, 0)).save(out, "PNG")
    return out.getvalue()


def record(model: str, concept: str, caption: str, image: str | None, **extra: Any) -> dict:
    return {"sample_id": f"draw:{model}:svg:{concept}:0", "task": "draw", "concept_id": concept,
            "level": "custom", "caption": caption, "language": "svg", "image": image,
            "model": model, "style": "chat", "sample_index": 0, "status": "ok",
            **extra}  # fmt: skip


def make_run(root: Path, name: str, models: list[str], captions: dict[str, str],
             extra: list[dict] | None = None) -> Path:  # fmt: skip
    """A finished run folder: every model draws every concept once (a PNG each); then
    ``extra`` records as they are."""
    folder = root / name
    records = []
    for m, model in enumerate(models):
        for c, (concept, caption) in enumerate(captions.items()):
            rel = Path("images") / model.replace("/", "_") / f"{concept}__s0.png"
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(png(40 * m + c))
            records.append(record(model, concept, caption, str(rel)))
    records += extra or []
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "manifest.json").write_text(json.dumps({"status": "finished",
                                                      "spec": {"name": name}}))  # fmt: skip
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """run-a: models a and b; run-b: model c, and records that are not drawings to show
    (another task, a failed drawing, images outside the run or behind a symlink)."""
    root = tmp_path / "runs"
    make_run(root, "run-a", ["openai/model-a", "openai/model-b"], CONCEPTS)
    folder = make_run(root, "run-b", ["openai/model-c"], CONCEPTS, [
        {**record("openai/model-d", "c-red", CONCEPTS["c-red"], "images/openai_model-c/"
                  "c-red__s0.png"), "task": "recognize", "sample_id": "recognize:x"},
        {**record("openai/model-d", "c-blue", CONCEPTS["c-blue"], "images/openai_model-c/"
                  "c-blue__s0.png"), "status": "render_error", "sample_id": "failed"},
        record("openai/model-e", "c-red", CONCEPTS["c-red"], "../run-a/images/openai_model-a/"
               "c-red__s0.png", sample_id="escape"),
        record("openai/model-f", "c-red", CONCEPTS["c-red"], "link.png", sample_id="link"),
    ])  # fmt: skip
    (tmp_path / "secret.png").write_bytes(png(255))
    os.symlink(tmp_path / "secret.png", folder / "link.png")
    return root


def arena(root: Path, tmp_path: Path, base_url: str = "http://testserver",
          **kwargs: Any) -> TestClient:  # fmt: skip
    kwargs = {"seed": 0, **kwargs}
    return TestClient(make_app(["run-a", "run-b"], root, tmp_path / "votes.sqlite", **kwargs),
                      base_url=base_url)  # fmt: skip


def token_of(html: str) -> str:
    found = re.search(r'data-token="([^"]*)"', html)
    assert found
    return found.group(1)


def shown(db: Path, token: str) -> sqlite3.Row:
    with sqlite3.connect(db) as con:
        con.row_factory = sqlite3.Row
        return con.execute("SELECT * FROM shown WHERE token = ?", (token,)).fetchone()


# -- pairs -------------------------------------------------------------------------------------


def test_only_rendered_drawings_of_two_models_pair_up(root: Path, tmp_path: Path) -> None:
    pool: Pool = arena(root, tmp_path).app.state.arena.pool
    assert pool.models == ["openai/model-a", "openai/model-b", "openai/model-c"]
    assert pool.size == 3 * 3  # three concepts, three pairs of models each
    assert {sid for _, sid in pool.by_id} == {
        f"draw:openai/model-{m}:svg:{c}:0" for m in "abc" for c in CONCEPTS
    }  # no other task, no failed drawing, no image outside the run or behind a symlink


def test_a_pair_is_shown_and_a_vote_is_stored_with_voter_and_time(
    root: Path, tmp_path: Path
) -> None:
    client = arena(root, tmp_path)
    page = client.get("/")
    assert page.status_code == 200
    for element in ('id="left"', 'id="right"', 'id="tie"', 'id="bad"', 'id="caption"'):
        assert element in page.text
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "script-src 'nonce-" in page.headers["content-security-policy"]
    token = token_of(page.text)
    row = shown(tmp_path / "votes.sqlite", token)
    assert row["left_model"] != row["right_model"] and row["left_model"] not in page.text
    assert CONCEPTS[row["concept_id"]] in page.text

    got = client.post("/api/vote", json={"token": token, "choice": "left"}, headers=HEADERS)
    assert got.status_code == 200, got.text
    with sqlite3.connect(tmp_path / "votes.sqlite") as con:
        con.row_factory = sqlite3.Row
        (vote,) = con.execute("SELECT * FROM votes").fetchall()
    assert vote["voter"] == client.cookies[VOTER_COOKIE]
    assert vote["choice"] == "left" and vote["left_model"] == row["left_model"]
    assert (vote["left_run"], vote["left_sample_id"]) == (row["left_run"], row["left_sample_id"])
    assert abs((datetime.fromisoformat(vote["created_at"]) - datetime.now().astimezone())
               .total_seconds()) < 60  # fmt: skip


def test_a_voter_never_sees_a_pair_twice_until_they_run_out(root: Path, tmp_path: Path) -> None:
    client = arena(root, tmp_path)
    tokens = [token_of(client.get("/").text)]  # a page load shows a pair too (a reload)
    while (got := client.post("/api/pair", headers=HEADERS).json())["pair"] is not None:
        tokens.append(got["pair"]["token"])
        assert len(tokens) <= 9
    assert got["done"] and "no more pairs" in got["message"]
    db = tmp_path / "votes.sqlite"
    keys = [shown(db, t)["pair"] for t in tokens]
    assert len(keys) == len(set(keys)) == 9
    again = client.get("/")
    assert "No more pairs" in again.text and token_of(again.text) == ""
    # the same voter after a restart of the arena: still none; another voter: all of them
    restarted = TestClient(make_app(["run-a", "run-b"], root, db, seed=1))
    restarted.cookies.set(VOTER_COOKIE, client.cookies[VOTER_COOKIE])
    assert restarted.post("/api/pair", headers=HEADERS).json()["done"]
    assert arena(root, tmp_path).post("/api/pair", headers=HEADERS).json()["pair"]


def test_pool_choice_is_random_and_exhaustive() -> None:
    import random

    from vad.arena.pairs import Drawing

    drawings = [
        Drawing("r", Path("."), i, record(f"m{i % 3}", "c", "cap", "x.png", sample_id=f"s{i}"))
        for i in range(9)
    ]
    pool = Pool(drawings)
    assert pool.size == 27  # three models with three drawings each: 3 pairs of models x 9
    rng, seen, lefts = random.Random(0), set(), set()
    while (pick := pool.choose(rng, seen)) is not None:
        assert pick[0].model != pick[1].model and pair_key(*pick) not in seen
        seen.add(pair_key(*pick))
        lefts.add(pick[0].model)
    assert len(seen) == 27 and len(lefts) == 3


# -- refusals ----------------------------------------------------------------------------------


def test_votes_only_on_pairs_shown_once_each_with_the_header(root: Path, tmp_path: Path) -> None:
    client = arena(root, tmp_path)
    token = token_of(client.get("/").text)
    vote = {"token": token, "choice": "tie"}
    assert client.post("/api/vote", json={"token": "made-up", "choice": "tie"},
                       headers=HEADERS).status_code == 404  # fmt: skip
    assert client.post("/api/vote", json=vote).status_code == 403  # no CSRF header
    assert client.post("/api/vote", json=vote, headers={**HEADERS, "Origin": "http://evil.example"}
                       ).status_code == 403  # fmt: skip
    assert client.post("/api/pair").status_code == 403
    assert client.post("/api/vote", json={**vote, "choice": "meh"},
                       headers=HEADERS).status_code == 400  # fmt: skip
    assert client.post("/api/vote", content=b"{", headers=HEADERS).status_code == 400
    deep = b"[" * 4000 + b"]" * 4000  # nested past the parser's depth: a 400, not a 500
    assert client.post("/api/vote", content=deep, headers=HEADERS).status_code == 413
    assert client.post("/api/vote", content=b"[" * 2000, headers=HEADERS).status_code == 400
    big = b'{"token": "' + b"x" * 10_000_000 + b'"}'  # refused by its declared length
    assert client.post("/api/vote", content=big, headers=HEADERS).status_code == 413

    def chunks() -> Any:  # no declared length: cut off as it streams
        for _ in range(1000):
            yield b" " * 10_000

    assert client.post("/api/vote", content=chunks(), headers=HEADERS).status_code == 413
    other = arena(root, tmp_path)  # another voter cannot vote on this voter's pair
    assert other.post("/api/vote", json=vote, headers=HEADERS).status_code == 404
    assert client.post("/api/vote", json=vote, headers=HEADERS).status_code == 200
    assert client.post("/api/vote", json=vote, headers=HEADERS).status_code == 409  # replayed
    assert client.post("/api/vote", json={**vote, "choice": "left"},
                       headers=HEADERS).status_code == 409  # fmt: skip
    assert len(VoteStore(tmp_path / "votes.sqlite").votes()) == 1


def test_the_token_is_needed_everywhere_when_set(root: Path, tmp_path: Path) -> None:
    client = arena(root, tmp_path, token="s3cret-lab-token")
    assert client.get("/").status_code == 401
    assert client.get("/ratings").status_code == 401
    assert client.get("/api/ratings").status_code == 401
    assert client.post("/api/pair", headers=HEADERS).status_code == 401
    assert client.get("/?token=wrong").status_code == 401
    first = client.get("/ratings?token=s3cret-lab-token", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/ratings"
    away = client.get("http://testserver//evil.example/x?token=s3cret-lab-token",
                      follow_redirects=False)  # fmt: skip
    assert away.headers["location"] == "/evil.example/x"  # a path here, never another host
    assert "s3cret" not in first.headers["location"]
    page = client.get("/")  # the cookie now
    assert page.status_code == 200
    token = token_of(page.text)
    assert client.get(f"/image/{token}/left").status_code == 200
    assert client.post("/api/vote", json={"token": token, "choice": "bad"},
                       headers=HEADERS).status_code == 200  # fmt: skip
    stranger = TestClient(client.app)
    stranger.cookies.set(VOTER_COOKIE, client.cookies[VOTER_COOKIE])
    assert stranger.get(f"/image/{token}/left").status_code == 401


def test_only_loopback_host_names_are_answered_on_loopback(root: Path, tmp_path: Path) -> None:
    client = arena(root, tmp_path, hosts=LOOPBACK_HOSTS, base_url="http://127.0.0.1:8765")
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200
    assert client.get("/", headers={"Host": "[::1]:8765"}).status_code == 200
    assert client.get("/", headers={"Host": "rebound.evil.example:8765"}).status_code == 421


# -- images ------------------------------------------------------------------------------------


def test_images_of_shown_pairs_only(root: Path, tmp_path: Path) -> None:
    client = arena(root, tmp_path)
    token = token_of(client.get("/").text)
    row = shown(tmp_path / "votes.sqlite", token)
    got = client.get(f"/image/{token}/left")
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    model = row["left_model"].replace("/", "_")
    run = root / row["left_run"]
    assert got.content == (run / "images" / model / f"{row['concept_id']}__s0.png").read_bytes()
    for path in (f"/image/{token}/middle", "/image/made-up/left", f"/image/{token}/../left",
                 f"/image/{token}/..%2F..%2Fsamples.jsonl", "/image/../samples.jsonl",
                 "/run-a/samples.jsonl", "/images/openai_model-a/c-red__s0.png"):  # fmt: skip
        assert client.get(path).status_code == 404, path
    assert arena(root, tmp_path).get(f"/image/{token}/left").status_code == 404  # another voter

    # a shown pair forged in the store to name records that are no drawings to show
    voter = client.cookies[VOTER_COOKIE]
    store = VoteStore(tmp_path / "votes.sqlite")
    for sample in ("recognize:x", "failed", "escape", "link"):
        forged = store.show(voter, f"forged {sample}", {
            **{k: row[k] for k in row.keys()  # noqa: SIM118 (a sqlite3.Row)
               if k.startswith(("left", "right", "concept", "language", "level"))},
            "left_run": "run-b", "left_sample_id": sample})  # fmt: skip
        assert client.get(f"/image/{forged}/left").status_code == 404, sample
    # a drawing's image swapped for a symlink after the arena started: not followed
    image = run / "images" / model / f"{row['concept_id']}__s0.png"
    image.unlink()
    image.symlink_to(tmp_path / "secret.png")
    assert client.get(f"/image/{token}/left").status_code == 404


# -- hostile text ------------------------------------------------------------------------------


def test_captions_and_model_names_are_only_text(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    make_run(root, "hostile", ["x/<img src=x onerror=alert(2)>", "x/model-b"], HOSTILE)
    client = TestClient(make_app(["hostile"], root, tmp_path / "votes.sqlite", seed=0))
    pages = []
    for _ in range(2):
        page = client.get("/")
        pages.append(page.text)
        assert client.post("/api/vote", json={"token": token_of(page.text), "choice": "left"},
                           headers=HEADERS).status_code == 200  # fmt: skip
    html = "".join(pages)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    for raw in (*HOSTILE.values(), "<img src=x"):
        assert raw not in html
    table = client.get("/ratings").text
    assert "x/&lt;img src=x onerror=alert(2)&gt;" in table and "<img src=x" not in table
    assert "innerHTML" not in html + table


# -- ratings and export ------------------------------------------------------------------------


def test_ratings_rank_the_winner_first(root: Path, tmp_path: Path) -> None:
    client = arena(root, tmp_path)
    db = tmp_path / "votes.sqlite"
    for _ in range(9):
        token = client.post("/api/pair", headers=HEADERS).json()["pair"]["token"]
        row = shown(db, token)
        # a beats everyone, c loses to everyone: the name that sorts first wins
        choice = "left" if row["left_model"] < row["right_model"] else "right"
        models = (row["left_model"], row["right_model"])
        if row["concept_id"] == "c-green" and "openai/model-a" not in models:
            choice = "bad"
        assert client.post("/api/vote", json={"token": token, "choice": choice},
                           headers=HEADERS).status_code == 200  # fmt: skip
    got = client.get("/api/ratings").json()
    assert got["votes"] == 9 and "left out" in got["note"]
    rows = {r["model"]: r for r in got["models"]}
    assert [r["model"] for r in got["models"]] == [f"openai/model-{m}" for m in "abc"]
    a, b, c = (rows[f"openai/model-{m}"] for m in "abc")
    assert a["rating"]["mean"] > b["rating"]["mean"] > c["rating"]["mean"]
    assert a["rating"]["low"] <= a["rating"]["mean"] <= a["rating"]["high"]
    assert (a["votes"], a["wins"], a["losses"]) == (6, 6, 0)
    assert (b["votes"], b["wins"], b["losses"], b["bad"]) == (6, 2, 3, 1)
    assert (c["votes"], c["losses"], c["bad"]) == (6, 5, 1)
    page = client.get("/ratings").text
    assert 'id="ratings"' in page and "left out" in page
    assert page.index("openai/model-a") < page.index("openai/model-b") < page.index(
        "openai/model-c"
    )  # fmt: skip


def test_both_bad_only_has_counts_and_no_rating() -> None:
    votes = [{"left_model": "m1", "right_model": "m2", "choice": "bad"}]
    assert [(r["model"], r["rating"], r["bad"]) for r in ratings(votes)] == [
        ("m1", None, 1), ("m2", None, 1)
    ]  # fmt: skip


def test_votes_export_to_jsonl_and_round_trip(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = root / DB_NAME  # the default: beside the runs
    client = TestClient(make_app(["run-a", "run-b"], root, db, seed=0))
    for choice in ("left", "right", "tie", "bad"):
        token = client.post("/api/pair", headers=HEADERS).json()["pair"]["token"]
        client.post("/api/vote", json={"token": token, "choice": choice}, headers=HEADERS)
    store = VoteStore(db)
    out = tmp_path / "votes.jsonl"
    assert store.export_jsonl(out) == 4
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == store.votes()
    assert [v["choice"] for v in lines] == ["left", "right", "tie", "bad"]
    assert set(lines[0]) >= {"id", "voter", "left_run", "left_sample_id", "left_model",
                             "right_run", "right_sample_id", "right_model", "concept_id",
                             "language", "choice", "created_at"}  # fmt: skip
    via_cli = tmp_path / "cli.jsonl"
    assert main(["arena", "run-a", "--export-votes", str(via_cli)]) == 0  # default --db
    assert via_cli.read_text() == out.read_text()
    assert "4 vote(s)" in capsys.readouterr().out
    assert main(["arena", "run-a", "--db", str(tmp_path / "none.sqlite"),
                 "--export-votes", str(via_cli)]) == 2  # fmt: skip
    assert "no votes at" in capsys.readouterr().err


# -- the command -------------------------------------------------------------------------------


def test_the_command_refuses_a_non_loopback_host_without_a_token(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import uvicorn

    served: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append({"app": app, **kw}))
    monkeypatch.delenv("VAD_ARENA_TOKEN", raising=False)
    assert main(["arena", "run-a", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--token" in err[0] and "loopback" in err[0]
    assert not served

    assert main(["arena", "run-a", "run-b", "--host", "0.0.0.0", "--token", "lab-secret",
                 "--db", str(tmp_path / "v.sqlite")]) == 0  # fmt: skip
    assert served[-1]["host"] == "0.0.0.0" and served[-1]["port"] == 8765
    assert "?token=lab-secret" in capsys.readouterr().out
    assert TestClient(served[-1]["app"]).get("/").status_code == 401

    assert main(["arena", "run-a", "run-b", "--port", "9999"]) == 0
    assert served[-1]["host"] == "127.0.0.1" and served[-1]["port"] == 9999
    assert (root / DB_NAME).is_file()  # the default --db
    out = capsys.readouterr().out
    assert "9 pair(s) of 3 model(s)" in out and "http://127.0.0.1:9999/" in out
    local = TestClient(served[-1]["app"], base_url="http://127.0.0.1:9999")
    assert local.get("/").status_code == 200
    assert local.get("/", headers={"Host": "evil.example"}).status_code == 421
