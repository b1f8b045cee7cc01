"""A loopback vision model in the OpenAI wire format: it really looks at the images.

Each PNG it is sent (a base64 data URL in the content list of the last user message)
is decoded with PIL, and the image's dominant non-white colour named. It answers the
judge's three questions from what it sees:

- recognition: the letter of the option whose caption names that colour;
- fidelity: "Score: 9" when the caption names the colour, else "Score: 2";
- pairwise: the drawing whose colour the caption names (neither or both: drawing 1,
  so that the two orders disagree: a tie).

``GET /props`` reports ``modalities.vision`` (``vision=None``: 404, a server that cannot
tell); ``GET /v1/models`` lists the model without capabilities. ``reply`` replaces every
answer (an unparsable judge); ``usage`` sets the tokens each reply reports (so that
litellm prices a model it knows, e.g. gpt-4o); ``delay`` slows every answer; ``hold_after``
makes every request after the first N wait until ``gate`` is set; ``fail_status`` makes
every chat request answer that HTTP status. ``requests`` holds
every chat request's body, ``answered`` the texts of replies it finished sending. It
also speaks the OpenAI files + batches protocol (``batch_protocol``): ``batched`` holds
the requests answered inside batches.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any

from batch_protocol import OpenAIBatchProtocol
from loopback import LoopbackServer
from PIL import Image

PALETTE = {
    "red": (255, 0, 0),
    "green": (0, 160, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 230, 0),
    "purple": (128, 0, 160),
    "orange": (255, 140, 0),
    "black": (0, 0, 0),
}


def dominant_colour(png: bytes) -> str:
    """The palette name nearest the most common non-white colour of an image."""
    image = Image.open(io.BytesIO(png)).convert("RGB").resize((64, 64), Image.NEAREST)
    counts = Counter(p for p in image.get_flattened_data() if sum(p) < 690)
    if not counts:
        return "white"
    pixel = counts.most_common(1)[0][0]
    return min(
        PALETTE, key=lambda n: sum((a - b) ** 2 for a, b in zip(PALETTE[n], pixel, strict=True))
    )


def names(text: str, colour: str) -> bool:
    return re.search(rf"\b{colour}\b", text, re.IGNORECASE) is not None


class VisionServer(LoopbackServer, OpenAIBatchProtocol):
    """``with VisionServer() as server:``; ``server.api_base`` is the URL."""

    def __init__(
        self,
        vision: bool | None = True,
        reply: str | None = None,
        usage: tuple[int, int] = (100, 10),
        delay: float = 0.0,
        hold_after: int | None = None,
    ) -> None:
        self.vision, self.reply, self.usage, self.delay = vision, reply, usage, delay
        self.hold_after = hold_after
        self.fail_status: int | None = None  # set: every chat request answers this status
        self.gate = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.answered: list[str] = []  # the request texts answered, in order
        self.gets: list[str] = []
        self.seen: list[list[str]] = []  # the colours of each request's images
        self._lock = threading.Lock()
        self._init_batches()
        self._serve(self._handler())

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        super().__exit__(*exc)

    def answer(self, body: dict[str, Any]) -> str:
        """The reply to one chat request, from its text and what its images show."""
        content = body["messages"][-1]["content"]
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        text = " ".join(p["text"] for p in parts if p["type"] == "text")
        colours = []
        for part in parts:
            if part["type"] == "image_url":
                url = part["image_url"]["url"]
                assert url.startswith("data:image/png;base64,")
                colours.append(dominant_colour(base64.b64decode(url.split(",", 1)[1])))
        with self._lock:
            self.seen.append(colours)
        if self.reply is not None:
            return self.reply
        caption = re.search(r"Caption: (.+)", text)
        if "Answer with the letter" in text:
            options = re.findall(r"^([A-Z])\. (.+)$", text, re.MULTILINE)
            picked = next((letter for letter, cap in options if names(cap, colours[0])), "A")
            return f"Answer: {picked}"
        if "Score:" in text and caption:
            score = 9 if names(caption.group(1), colours[0]) else 2
            return f"Score: {score}\nReason: the drawing is {colours[0]}."
        if "1 or 2" in text and caption:
            good = [names(caption.group(1), c) for c in colours]
            return "2" if good == [False, True] else "1"
        return "I do not know."

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """The chat.completion object answering ``body``."""
        text = self.answer(body)
        prompt, completion = self.usage
        return {
            "id": "v-1",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "m"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    def _answer_line(self, url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert url == "/v1/chat/completions", url
        return 200, self.completion(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                with server._lock:
                    server.gets.append(self.path)
                if self.path == "/props":
                    if server.vision is None:
                        self._json(404, {"error": {"message": "not found"}})
                    else:
                        self._json(200, {"modalities": {"vision": server.vision}})
                elif (found := server.batch_get(self.path)) is not None:
                    if isinstance(found[1], bytes):
                        self.send_response(found[0])
                        self.send_header("Content-Length", str(len(found[1])))
                        self.end_headers()
                        self.wfile.write(found[1])
                    else:
                        self._json(*found)
                else:
                    self._json(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                found = server.batch_post(self.path, raw, self.headers.get("Content-Type", ""))
                if found is not None:
                    self._json(*found)
                    return
                body = json.loads(raw)
                with server._lock:
                    server.requests.append(body)
                    count = len(server.requests)
                if server.hold_after is not None and count > server.hold_after:
                    server.gate.wait(60)
                if server.delay:
                    time.sleep(server.delay)
                if server.fail_status is not None:
                    self._json(server.fail_status, {"error": {"message": "judge down"}})
                    return
                self._json(200, server.completion(body))
                with server._lock:
                    server.answered.append(json.dumps(body["messages"], sort_keys=True))

        return Handler
