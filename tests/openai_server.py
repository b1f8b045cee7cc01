"""A real HTTP server on loopback that answers in the OpenAI wire format.

It draws deterministically from the prompt (a circle whose colour is the first colour
word of the request), can answer 429 or 500 first, can answer with no choices or with
a body that is not JSON (``broken``), can be slowed down, and counts every request it
gets (``answered`` counts the replies it finished sending).

``broken="html"`` answers every request with an HTML page (status 200); ``fail_html``
sends the ``fail_first`` failures as HTML pages instead of JSON errors; ``trickle`` sends
every reply one byte at a time, that many seconds apart (``trickle_cut`` counts the
replies whose client hung up before the last byte).
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from batch_protocol import OpenAIBatchProtocol
from loopback import LoopbackServer

PROPOSALS = (
    "- a red ball\n2. a blue car\n* a green tree\n- a red ball\n- The Red Ball.\n\n"
    "Sure! Here is one more thing to draw for you today okay\n- a yellow sun"
)
HTML_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"
COLORS = ["red", "blue", "green", "yellow", "orange", "purple", "black", "pink", "brown", "gray"]


def drawing_for(text: str) -> str:
    color = next((c for c in COLORS if re.search(rf"\b{c}\b", text)), "teal")
    return (
        "Here is the drawing:\n```svg\n"
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 224 224">'
        f'<circle cx="112" cy="112" r="60" fill="{color}"/></svg>\n```\nEnjoy!'
    )


class FakeOpenAI(LoopbackServer, OpenAIBatchProtocol):
    """Start with ``with FakeOpenAI() as server:``; ``server.api_base`` is the URL."""

    def __init__(
        self,
        fail_first: int = 0,
        fail_status: int = 429,
        delay: float = 0.0,
        broken: str = "",
        fail_html: bool = False,
        trickle: float = 0.0,
    ) -> None:
        self.fail_first, self.fail_status, self.delay = fail_first, fail_status, delay
        # "", "empty_choices", "invalid_json", "surrogate", "huge" or "html"
        self.broken = broken
        self.fail_html, self.trickle = fail_html, trickle
        self.trickle_cut = 0  # trickled replies the client hung up on
        self.gate = threading.Event()  # cleared: requests wait until it is set again
        self.gate.set()
        self._init_batches()  # the files + batches protocol (batch_protocol)
        self.answered = 0
        self.in_flight = 0  # requests being answered now (the delay included)
        self.peak = 0  # the most requests answered at once
        self.requests: list[dict[str, Any]] = []
        self.failures_sent = 0
        self._lock = threading.Lock()
        self._serve(self._handler())

    def _answer_line(self, url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._answer(url, body, batched=True)

    def _answer(
        self, path: str, body: dict[str, Any], batched: bool = False
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if not batched:  # (a batch line is counted by the protocol)
                self.requests.append({"path": path, **body})
            if self.failures_sent < self.fail_first:
                self.failures_sent += 1
                return self.fail_status, {"error": {"message": "slow down", "type": "rate"}}
        if self.broken == "html":
            return 200, {}
        self.gate.wait(120)
        if self.delay:
            with self._lock:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            time.sleep(self.delay)
            with self._lock:
                self.in_flight -= 1
        if self.broken == "empty_choices":
            return 200, {"id": "fake-0", "object": "chat.completion", "created": 0,
                         "model": "fake", "choices": [], "usage": {}}  # fmt: skip
        usage = {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}
        if path.endswith("/chat/completions"):
            prompt = " ".join(m["content"] for m in body["messages"])
            if "that someone could" in prompt:  # the propose strategy: a list of things
                text = PROPOSALS
            elif "Answer with the letter only" in prompt:
                text = "The answer is B."
            elif "short noun phrase" in prompt:
                text = "A cat."
            else:
                text = drawing_for(prompt)
            if self.broken == "surrogate":
                text += "\ud800"  # a lone surrogate: valid JSON, not valid UTF-8 text
            if self.broken == "huge":
                text += "<!--" + "x" * 3_000_000 + "-->"  # a provider that ignores max_tokens
            choice = {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text},
            }
            obj = "chat.completion"
        else:
            text = ' <rect width="10" height="10" fill="blue"/>'
            choice = {"index": 0, "finish_reason": "stop", "text": text, "logprobs": None}
            obj = "text_completion"
        return 200, {
            "id": "fake-1",
            "object": obj,
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [choice],
            "usage": usage,
        }

    # -- Anthropic Message Batches -----------------------------------------------------------
    def _create_message_batch(self, body: dict[str, Any], headers: Any) -> dict[str, Any]:
        assert headers.get("x-api-key") and headers.get("anthropic-version")
        with self._lock:
            bid = f"msgbatch_{len(self.batches) + 1}"
            self.batches[bid] = {"id": bid, "type": "message_batch", "polls": 0,
                                 "processing_status": "in_progress", "results_url": None,
                                 "requests": body["requests"], "results": b""}  # fmt: skip
        return self._message_batch_view(bid)

    def _message_batch_view(self, bid: str) -> dict[str, Any]:
        batch = self.batches[bid]
        return {k: v for k, v in batch.items() if k not in ("polls", "requests", "results")}

    def _message_batch(self, bid: str, headers: Any) -> dict[str, Any]:
        """The first poll says in_progress; the second runs the batch and ends it."""
        batch = self.batches[bid]
        batch["polls"] += 1
        if batch["processing_status"] == "in_progress" and batch["polls"] >= 2:
            lines, counts = [], {"succeeded": 0, "errored": 0, "expired": 0}
            for i, request in enumerate(batch["requests"]):
                params = request["params"]
                if self.batch_fail_every and i % self.batch_fail_every == 0:
                    result = {"type": "errored", "error": {"type": "api_error"}}
                else:
                    with self._lock:
                        self.batched.append({"path": "/v1/messages", **params})
                    text = drawing_for(" ".join(m["content"] for m in params["messages"]))
                    result = {"type": "succeeded", "message": {
                        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                        "usage": {"input_tokens": 11, "output_tokens": 22}}}  # fmt: skip
                counts[result["type"]] += 1
                lines.append({"custom_id": request["custom_id"], "result": result})
            batch["results"] = "".join(json.dumps(x) + "\n" for x in lines).encode()
            batch["processing_status"] = "ended"
            batch["request_counts"] = counts
            batch["results_url"] = f"{self.api_base[:-3]}/v1/messages/batches/{bid}/results"
        return self._message_batch_view(bid)

    def _message_results(self, bid: str) -> bytes:
        return self.batches[bid]["results"]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                kind = "application/json"
                if server.broken == "invalid_json" and status == 200:
                    data = b'{"id": "fake-1", "choices": [{"message": '  # cut short
                if (server.broken == "html" and status == 200) or (
                    server.fail_html and status != 200
                ):
                    kind, data = "text/html", HTML_PAGE
                if server.trickle:
                    self._trickle(status, kind, data)
                    return
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)
                with server._lock:
                    server.answered += 1

            def _trickle(self, status: int, kind: str, data: bytes) -> None:
                """The whole reply, status line included, one byte at a time."""
                head = (f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n").encode()  # fmt: skip
                try:
                    for i in range(len(head + data)):
                        self.wfile.write((head + data)[i : i + 1])
                        self.wfile.flush()
                        time.sleep(server.trickle)
                except OSError:  # the client hung up
                    with server._lock:
                        server.trickle_cut += 1
                    self.close_connection = True
                    return
                with server._lock:
                    server.answered += 1

            def do_GET(self) -> None:
                if self.path.startswith("/v1/messages/batches/"):
                    parts = self.path.split("/")
                    if parts[-1] == "results":
                        data = server._message_results(parts[-2])
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                    else:
                        self._send(200, server._message_batch(parts[-1], self.headers))
                elif (found := server.batch_get(self.path)) is not None:
                    if isinstance(found[1], bytes):
                        self.send_response(found[0])
                        self.send_header("Content-Type", "application/octet-stream")
                        self.send_header("Content-Length", str(len(found[1])))
                        self.end_headers()
                        self.wfile.write(found[1])
                    else:
                        self._send(*found)
                else:
                    self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                found = server.batch_post(self.path, raw, self.headers.get("Content-Type", ""))
                if found is not None:
                    self._send(*found)
                    return
                body = json.loads(raw or b"{}")
                if self.path == "/v1/messages/batches":
                    self._send(200, server._create_message_batch(body, self.headers))
                    return
                self._send(*server._answer(self.path, body))

        return Handler
