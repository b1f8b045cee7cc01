"""A real HTTP server on loopback that answers in the OpenAI wire format.

It draws deterministically from the prompt (a circle whose colour is the first colour
word of the request), can answer 429 or 500 first, can answer with no choices or with
a body that is not JSON (``broken``), can be slowed down, and counts every request it
gets (``answered`` counts the replies it finished sending).
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COLORS = ["red", "blue", "green", "yellow", "orange", "purple", "black", "pink", "brown", "gray"]


def drawing_for(text: str) -> str:
    color = next((c for c in COLORS if re.search(rf"\b{c}\b", text)), "teal")
    return (
        "Here is the drawing:\n```svg\n"
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 224 224">'
        f'<circle cx="112" cy="112" r="60" fill="{color}"/></svg>\n```\nEnjoy!'
    )


class FakeOpenAI:
    """Start with ``with FakeOpenAI() as server:``; ``server.api_base`` is the URL."""

    def __init__(
        self, fail_first: int = 0, fail_status: int = 429, delay: float = 0.0, broken: str = ""
    ) -> None:
        self.fail_first, self.fail_status, self.delay = fail_first, fail_status, delay
        self.broken = broken  # "", "empty_choices" or "invalid_json"
        self.gate = threading.Event()  # cleared: requests wait until it is set again
        self.gate.set()
        self.answered = 0
        self.requests: list[dict[str, Any]] = []
        self.failures_sent = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append({"path": path, **body})
            if self.failures_sent < self.fail_first:
                self.failures_sent += 1
                return self.fail_status, {"error": {"message": "slow down", "type": "rate"}}
        self.gate.wait(120)
        if self.delay:
            time.sleep(self.delay)
        if self.broken == "empty_choices":
            return 200, {"id": "fake-0", "object": "chat.completion", "created": 0,
                         "model": "fake", "choices": [], "usage": {}}  # fmt: skip
        usage = {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}
        if path.endswith("/chat/completions"):
            prompt = " ".join(m["content"] for m in body["messages"])
            if "Answer with the letter only" in prompt:
                text = "The answer is B."
            elif "short noun phrase" in prompt:
                text = "A cat."
            else:
                text = drawing_for(prompt)
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

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                if server.broken == "invalid_json" and status == 200:
                    data = b'{"id": "fake-1", "choices": [{"message": '  # cut short
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)
                with server._lock:
                    server.answered += 1

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                self._send(*server._answer(self.path, body))

        return Handler
