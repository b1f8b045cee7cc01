from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from vad.store import ResponseStore, cache_key, canonical_json


def test_cache_key_is_stable_and_order_independent() -> None:
    a = {"model": "openai/x", "temperature": 0.5, "payload": {"messages": [{"a": 1}]}}
    b = {"payload": {"messages": [{"a": 1}]}, "temperature": 0.5, "model": "openai/x"}
    assert cache_key(a) == cache_key(b)
    # A fixed value: changing the canonical form would silently orphan every cache.
    assert (
        cache_key({"b": 1, "a": "é"})
        == "aa58fba8483623bed37c1b02edfccbdd9a53123837c20bfa4cb4049993a2872e"
    )
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'
    assert cache_key(a) != cache_key({**a, "temperature": 0.6})


def test_store_round_trip_persists_as_json(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    store = ResponseStore(path)
    store.put("k1", "m", {"prompt": "p"}, {"text": "hello", "n": 1})
    assert store.get("k1") == {"text": "hello", "n": 1}
    assert store.get("missing") is None
    store.close()
    again = ResponseStore(path)
    assert again.get("k1") == {"text": "hello", "n": 1} and len(again) == 1
    again.close()
    raw = sqlite3.connect(path).execute("SELECT response FROM responses").fetchone()[0]
    assert json.loads(raw) == {"n": 1, "text": "hello"}  # plain JSON, no pickle
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
