"""The arena's Starlette app: a random pair of drawings, a vote, a live ratings table.

Routes (all relative to where the app is mounted):

- ``GET /``: a pair not yet shown to this voter, or the "no more pairs" page;
- ``POST /api/pair``: the same as JSON (``{"pair": {...}}`` or ``{"pair": null,
  "done": true}``); the page asks it after each vote;
- ``POST /api/vote``: ``{"token": ..., "choice": "left"|"right"|"tie"|"bad"}``;
- ``GET /image/{token}/{left|right}``: a drawing of a pair shown to this voter;
- ``GET /ratings`` and ``GET /api/ratings``: Bradley-Terry ratings and vote counts.

Drawings stay anonymous: an image's URL names the pair's opaque token and a side,
never a run, a line or a model; the server maps it to the drawing's (run, line) and
reads the record's image with ``read_regular`` (no symlink, nothing outside the run).

Who may do what: a voter is a random id in an HttpOnly, SameSite=Strict cookie. A POST
must carry ``X-Vad-Arena: 1`` (a header a cross-site form cannot send, and that a
cross-site fetch cannot send without a preflight this app never answers) and, if it
names an Origin, this host's. With a token, every request needs it: ``?token=`` once
(the app keeps it in a cookie and redirects to the URL without it), else 401. With
``hosts``, a request naming another Host is refused (a DNS-rebinding page cannot vote).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import random
import re
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from vad.arena.pairs import Drawing, Pool, find_drawings, pair_key
from vad.arena.votes import BAD_NOTE, CHOICES, VoteRefused, VoteStore, ratings
from vad.fsutil import image_type, read_regular

VOTER_COOKIE = "vad_arena_voter"
TOKEN_COOKIE = "vad_arena_token"
CSRF_HEADER = "x-vad-arena"
VOTER_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
MAX_BODY = 4096
POLL_SECONDS = 3
YEAR = 365 * 24 * 3600
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("vad.arena", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.globals.update(choices=CHOICES, poll_seconds=POLL_SECONDS, bad_note=BAD_NOTE)
    return env


class Arena:
    """The state behind the routes: the pairs, the store, the random source."""

    def __init__(self, pool: Pool, store: VoteStore, seed: int | None) -> None:
        self.pool, self.store = pool, store
        # Pairs and sides are drawn from the system's randomness unless a seed is given
        # (tests): a seeded order anyone with the runs could replay, and so know which
        # model drew which side before voting.
        self.rng = random.SystemRandom() if seed is None else random.Random(seed)
        self.seed = seed or 0
        self.issue_lock = threading.Lock()  # one pick at a time: the rng, and no pair twice
        self.ratings_lock = threading.Lock()
        self._ratings: tuple[int, list[dict[str, Any]]] | None = None

    def issue(self, voter: str) -> dict[str, Any] | None:
        """A pair not yet shown to ``voter``, recorded as shown; None when none is left."""
        with self.issue_lock:
            seen = self.store.seen(voter)
            while (pick := self.pool.choose(self.rng, seen)) is not None:
                left, right = pick
                token = self.store.show(voter, pair_key(left, right), _sides(left, right))
                if token is not None:
                    return {"token": token, "caption": str(left.record["caption"]),
                            "language": str(left.record.get("language")),
                            "left": f"image/{token}/left",
                            "right": f"image/{token}/right"}  # fmt: skip
                seen.add(pair_key(left, right))  # shown meanwhile (another process)
        return None

    def drawing(self, token: str, side: str, voter: str) -> Drawing | None:
        shown = self.store.shown(token, voter)
        if shown is None or side not in ("left", "right"):
            return None
        return self.pool.by_id.get(shown.left if side == "left" else shown.right)

    def ratings(self) -> dict[str, Any]:
        """The ratings of the votes so far (fitted again only when a vote came)."""
        with self.ratings_lock:
            count = self.store.count()
            if self._ratings is None or self._ratings[0] != count:
                self._ratings = (count, ratings(self.store.votes(), seed=self.seed))
            return {"votes": count, "models": self._ratings[1], "note": BAD_NOTE}


def _sides(left: Drawing, right: Drawing) -> dict[str, str]:
    rec = left.record
    return {"left_run": left.run, "left_sample_id": left.sample_id, "left_model": left.model,
            "right_run": right.run, "right_sample_id": right.sample_id,
            "right_model": right.model, "concept_id": str(rec.get("concept_id")),
            "language": str(rec.get("language")), "level": str(rec.get("level"))}  # fmt: skip


class Guard(BaseHTTPMiddleware):
    """Host, token, CSRF header, voter cookie and the security headers of every reply."""

    def __init__(self, app: Any, token: str | None, hosts: Sequence[str] | None) -> None:
        super().__init__(app)
        self.token = token
        self.hosts = {h.lower().strip("[]") for h in hosts} if hosts is not None else None

    def _token_ok(self, given: str | None) -> bool:
        return given is not None and self.token is not None and hmac.compare_digest(
            given.encode(), self.token.encode()
        )  # fmt: skip

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        host = request.headers.get("host", "")
        if self.hosts is not None and (urlsplit(f"//{host}").hostname or "") not in self.hosts:
            return PlainTextResponse(f"this arena does not answer for host {host!r}\n", 421)
        set_token = False
        if self.token is not None:
            given = request.query_params.get("token")
            if self._token_ok(given):
                set_token = True
                if request.method == "GET":  # keep the token out of the address bar
                    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                    path = "/" + request.url.path.lstrip("/")  # never //host: no open redirect
                    url = path + (f"?{urlencode(rest)}" if rest else "")
                    response: Response = RedirectResponse(url, 303)
                    self._cookie(response, TOKEN_COOKIE, self.token)
                    return self._headers(response, "")
            elif not self._token_ok(request.cookies.get(TOKEN_COOKIE)):
                return PlainTextResponse(
                    "401: this arena needs its token: open it with ?token=... once\n", 401
                )
        if request.method not in ("GET", "HEAD"):
            if request.headers.get(CSRF_HEADER) != "1":
                return PlainTextResponse(f"403: a POST needs the header {CSRF_HEADER}: 1\n", 403)
            origin = request.headers.get("origin")
            if origin is not None and (urlsplit(origin).netloc or origin) != host:
                return PlainTextResponse("403: cross-origin request\n", 403)
        voter = request.cookies.get(VOTER_COOKIE, "")
        new_voter = not VOTER_ID.fullmatch(voter)
        if new_voter:
            voter = secrets.token_urlsafe(18)
        request.state.voter = voter
        request.state.nonce = secrets.token_urlsafe(16)
        response = await call_next(request)
        if new_voter:
            self._cookie(response, VOTER_COOKIE, voter)
        if set_token:
            self._cookie(response, TOKEN_COOKIE, str(self.token))
        return self._headers(response, request.state.nonce)

    @staticmethod
    def _cookie(response: Response, name: str, value: str) -> None:
        response.set_cookie(name, value, max_age=YEAR, httponly=True, samesite="strict")

    @staticmethod
    def _headers(response: Response, nonce: str) -> Response:
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Cache-Control", "no-store")
        return response


def make_app(
    runs: Sequence[str],
    root: str | Path,
    db_path: str | Path,
    token: str | None = None,
    seed: int | None = None,
    *,
    hosts: Sequence[str] | None = None,
) -> Starlette:
    """The arena over the drawings of ``runs`` (names, prefixes or paths, looked up under
    ``root`` as `vad leaderboard` does), its votes in ``db_path``. ``token``: every
    request must carry it. ``hosts``: the Host names it answers (None: any)."""
    from vad.leaderboard.build import load

    loaded = load(list(runs), Path(root))
    folders = {name: run.folder for name, run in loaded.runs.items()}
    drawings, missing = find_drawings(loaded.samples, folders)
    warnings = list(loaded.warnings)
    if missing:
        warnings.append(f"{missing} drawing(s) name an image that is not a file inside "
                        "their run folder: not shown")  # fmt: skip
    pool = Pool(drawings)
    arena = Arena(pool, VoteStore(db_path), seed)
    env = _templates()

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        html = env.get_template(name).render(nonce=request.state.nonce, **context)
        return HTMLResponse(html)

    def index(request: Request) -> Response:
        pair = arena.issue(request.state.voter)
        return page(request, "arena.html", pair=pair, pairs=pool.size, models=len(pool.models))

    def next_pair(request: Request) -> Response:
        pair = arena.issue(request.state.voter)
        if pair is None:
            return JSONResponse({"pair": None, "done": True,
                                 "message": "no more pairs: you have seen them all"})  # fmt: skip
        return JSONResponse({"pair": pair, "done": False})

    async def vote(request: Request) -> Response:
        try:  # refused before it is read whole: a huge body never fills memory
            declared = int(request.headers.get("content-length") or 0)
        except ValueError:
            declared = MAX_BODY + 1
        if declared > MAX_BODY:
            return JSONResponse({"error": "request too large"}, 413)
        body = b""
        async for part in request.stream():
            body += part
            if len(body) > MAX_BODY:
                return JSONResponse({"error": "request too large"}, 413)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return JSONResponse({"error": "the body must be JSON"}, 400)
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("token", "choice")
        ):
            return JSONResponse({"error": 'give {"token": ..., "choice": ...}'}, 400)
        try:
            got = await run_in_threadpool(
                arena.store.vote, data["token"], request.state.voter, data["choice"]
            )
        except VoteRefused as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        return JSONResponse({"ok": True, "id": got["id"]})

    def image(request: Request) -> Response:
        drawing = arena.drawing(request.path_params["token"], request.path_params["side"],
                                request.state.voter)  # fmt: skip
        data = (read_regular(drawing.folder, str(drawing.record["image"]))
                if drawing is not None else None)  # fmt: skip
        kind = image_type(data) if data else None
        if data is None or kind is None:
            return PlainTextResponse("404: no such drawing\n", 404)
        return Response(data, media_type=kind, headers={"Cache-Control": "private, max-age=3600"})

    def ratings_page(request: Request) -> Response:
        return page(request, "ratings.html", table=arena.ratings(), warnings=warnings)

    def ratings_json(request: Request) -> Response:
        return JSONResponse(arena.ratings())

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/api/pair", next_pair, methods=["POST"]),
        Route("/api/vote", vote, methods=["POST"]),
        Route("/image/{token}/{side}", image, methods=["GET"]),
        Route("/ratings", ratings_page, methods=["GET"]),
        Route("/api/ratings", ratings_json, methods=["GET"]),
        Route("/favicon.ico", lambda _: Response(status_code=204), methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        arena.store.close()

    app = Starlette(routes=routes, middleware=[Middleware(Guard, token=token, hosts=hosts)],
                    lifespan=lifespan)  # fmt: skip
    app.state.arena = arena
    app.state.warnings = warnings
    return app
