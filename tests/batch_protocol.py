"""The OpenAI files + batches protocol, for the loopback test servers (FakeOpenAI,
VisionServer): uploaded files, batches that end on their second poll, and the ways
batches misbehave (every k-th line failing, the first batch expiring half way).

A server mixes it in, sets ``_init_batches()`` up and routes with :meth:`batch_get` and
:meth:`batch_post`; each batch line is answered by its ``_answer_line(url, body)``.
"""

from __future__ import annotations

import json
import threading
from typing import Any


class OpenAIBatchProtocol:
    _lock: threading.Lock

    def _init_batches(self) -> None:
        self.files: dict[str, bytes] = {}
        self.batched: list[dict[str, Any]] = []  # requests answered inside batches
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_fail_every = 0  # every k-th line of a batch fails (0: none)
        self.expire_first_batch = False  # the first batch expires half way

    def _answer_line(self, url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    def batch_get(self, path: str) -> tuple[int, Any] | None:
        """(status, JSON payload or raw bytes) of a GET of the protocol, else None."""
        if path.split("?")[0] == "/v1/batches":  # newest first, one page
            views = [self._view(b) for b in reversed(list(self.batches.values()))]
            return 200, {"object": "list", "data": views, "has_more": False}
        if path.startswith("/v1/batches/"):
            return 200, self._batch_status(path.rsplit("/", 1)[1])
        if path.startswith("/v1/files/") and path.endswith("/content"):
            return 200, self.files[path.split("/")[3]]
        return None

    def batch_post(self, path: str, raw: bytes, content_type: str) -> tuple[int, Any] | None:
        if path == "/v1/files":
            return 200, self._upload(raw, content_type)
        if path == "/v1/batches":
            return 200, self._create_batch(json.loads(raw))
        return None

    @staticmethod
    def _view(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if k != "polls"}

    def _file(self, data: bytes) -> str:
        with self._lock:
            fid = f"file-{len(self.files) + 1}"
            self.files[fid] = data
        return fid

    def _upload(self, raw: bytes, content_type: str) -> dict[str, Any]:
        boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
        content = b""
        for part in raw.split(b"--" + boundary):
            head, _, rest = part.partition(b"\r\n\r\n")
            if b'name="file"' in head:
                content = rest.rsplit(b"\r\n", 1)[0]
        fid = self._file(content)
        return {"id": fid, "object": "file", "bytes": len(content), "created_at": 0,
                "filename": "requests.jsonl", "purpose": "batch",
                "status": "processed"}  # fmt: skip

    def _create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            bid = f"batch-{len(self.batches) + 1}"
            self.batches[bid] = {
                "id": bid, "object": "batch", "endpoint": body["endpoint"],
                "input_file_id": body["input_file_id"], "created_at": 0,
                "completion_window": body["completion_window"], "status": "in_progress",
                "output_file_id": None, "error_file_id": None,
                "metadata": body.get("metadata"), "polls": 0,
            }  # fmt: skip
        return self._view(self.batches[bid])

    def _batch_status(self, bid: str) -> dict[str, Any]:
        """The first poll says in_progress; the second runs the batch and ends it."""
        batch = self.batches[bid]
        batch["polls"] += 1
        if batch["status"] == "in_progress" and batch["polls"] >= 2:
            lines = self.files[batch["input_file_id"]].decode().splitlines()
            expire = self.expire_first_batch and bid == "batch-1"
            out, errors = [], []
            for i, line in enumerate(lines):
                request = json.loads(line)
                if expire and i >= len(lines) // 2:
                    break  # the window closed before these lines were reached
                if self.batch_fail_every and i % self.batch_fail_every == 0:
                    error = {"code": "server_error", "message": "boom"}
                    errors.append({"id": f"r{i}", "custom_id": request["custom_id"],
                                   "response": {"status_code": 500, "body": {}},
                                   "error": error})  # fmt: skip
                    continue
                with self._lock:
                    self.batched.append({"path": request["url"], **request["body"]})
                status, reply = self._answer_line(request["url"], request["body"])
                response = {"status_code": status, "body": reply}
                out.append({"id": f"r{i}", "custom_id": request["custom_id"],
                            "response": response, "error": None})  # fmt: skip
            batch["output_file_id"] = self._file(
                "".join(json.dumps(x) + "\n" for x in out).encode()
            )
            if errors:
                text = "".join(json.dumps(x) + "\n" for x in errors)
                batch["error_file_id"] = self._file(text.encode())
            batch["status"] = "expired" if expire else "completed"
        return self._view(batch)
