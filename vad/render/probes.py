"""Containment probes, run for real: each language's attempts at what the jail forbids.

A language lists its probes (vad/languages: a read of a host file, a write into a host
folder, a request to a server on the host's loopback, an endless loop, a fork bomb),
each written to render an image only if the forbidden thing worked. A probe is
contained when it does not render, leaks nothing of the secret into its result, writes
nothing into the host folder, reaches no server, ends within the job's limits (an
endless loop as ``timeout`` or ``memory``), and the next drawing renders. The contract
test (tests/test_languages.py) and ``vad doctor --probes`` run them.
"""

from __future__ import annotations

import http.server
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from vad.concepts import load_concepts
from vad.languages import fill_probe, get_language, reference_program
from vad.render.base import RenderStatus
from vad.render.pool import RenderPool

SECRET = "vad-probe-secret-7c1f0e"


class LoopbackCounter:
    """An HTTP server on the host's loopback that counts the requests it gets."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(SECRET.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.hits = hits
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/x.png"

    def __enter__(self) -> LoopbackCounter:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class ProbeResult:
    language: str
    probe: str
    status: RenderStatus
    breaches: tuple[str, ...]  # empty: contained

    @property
    def contained(self) -> bool:
        return not self.breaches


def run_probe(
    pool: RenderPool, lang: str, probe: str, folder: Path, server: LoopbackCounter
) -> ProbeResult:
    """Run one probe of ``lang`` in ``pool``, with its host file and folder in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    secret_file, outside = folder / "secret.txt", folder / "outside"
    secret_file.write_text(SECRET)
    outside.mkdir(exist_ok=True)
    os.chmod(folder, 0o755)
    os.chmod(outside, 0o777)  # the jail's uid could write here, were it reachable
    hits_before = len(server.hits)
    code = fill_probe(get_language(lang).probes[probe], str(secret_file), str(outside),
                      server.url)  # fmt: skip
    result = pool.render(lang, code, 64, 64, folder / "probe.png")
    breaches = []
    if result.status is RenderStatus.OK:
        breaches.append("it rendered")
    if probe == "endless_loop" and result.status not in (RenderStatus.TIMEOUT,
                                                         RenderStatus.MEMORY):  # fmt: skip
        breaches.append(f"an endless loop ended as {result.status}, not timeout")
    if SECRET in f"{result.reason}\n{result.stderr_tail}":
        breaches.append("the secret is in its output")
    if any(outside.iterdir()):
        breaches.append("it wrote into the host folder")
    if len(server.hits) > hits_before:
        breaches.append("it reached the host's loopback server")
    concept = load_concepts(["shapes"], None, 1, 0)[0]
    follow = pool.render(lang, reference_program(concept, lang), 64, 64, folder / "next.png")
    if not follow.ok:
        breaches.append(f"the next drawing did not render ({follow.status}: {follow.reason})")
    return ProbeResult(lang, probe, result.status, tuple(breaches))
