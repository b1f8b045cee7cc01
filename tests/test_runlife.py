"""The run life shared by `vad run` and `vad generate`: lock, session entry, window."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

from vad.rundir import RunFolder, RunStateError
from vad.runlife import Session, Window, writing


def lines() -> tuple[list[str], object]:
    said: list[str] = []
    return said, said.append


# -- writing ---------------------------------------------------------------------------
def test_one_writer_per_folder(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    _said, say = lines()
    other = RunFolder(tmp_path / "run")
    with (
        writing(folder, False, say, "choose another --out"),
        pytest.raises(RunStateError, match="choose another --out"),
        writing(other, False, say, "choose another --out"),
    ):
        pass
    with writing(folder, False, say, "x"):  # released on the way out
        pass


def test_the_lock_is_released_by_an_error(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    with pytest.raises(ValueError), writing(folder, False, print, "x"):
        raise ValueError("boom")
    with writing(folder, False, print, "x"):
        pass


# -- Session ---------------------------------------------------------------------------
def manifest_of(folder: RunFolder) -> dict:
    return json.loads(folder.manifest_path.read_text())


@pytest.fixture
def folder(tmp_path: Path) -> RunFolder:
    f = RunFolder(tmp_path / "run")
    f.path.mkdir()
    return f


def test_session_running_then_finished(folder: RunFolder) -> None:
    manifest: dict = {"kind": "test"}
    order: list[str] = []
    described: list[str] = []
    closing = (lambda: order.append("a"), lambda: order.append("b"))
    session = Session(folder, manifest, print, closing, described.append, todo=3)
    with session:
        during = manifest_of(folder)
        assert during["status"] == "running"
        assert during["sessions"][-1]["todo"] == 3
        assert "ended_at" not in during["sessions"][-1]
    after = manifest_of(folder)
    assert after["status"] == "finished" and after["sessions"][-1]["status"] == "finished"
    assert after["sessions"][-1]["wall_s"] >= 0 and "error" not in after["sessions"][-1]
    assert order == ["a", "b"] and described == ["finished"]


def test_a_second_session_appends(folder: RunFolder) -> None:
    manifest: dict = {}
    with Session(folder, manifest, print):
        pass
    with Session(folder, manifest, print) as s:
        s.status = "budget"
    after = manifest_of(folder)
    assert [e["status"] for e in after["sessions"]] == ["finished", "budget"]
    assert after["status"] == "budget"


def test_an_error_is_recorded_and_raised(folder: RunFolder) -> None:
    manifest: dict = {}
    closed: list[int] = []
    with (
        pytest.raises(RuntimeError, match="engine died"),
        Session(folder, manifest, print, (lambda: closed.append(1),)),
    ):
        raise RuntimeError("engine died\nsecond line")
    entry = manifest_of(folder)["sessions"][-1]
    assert entry["status"] == "failed" and entry["error"] == "engine died"
    assert closed == [1]


def test_ctrl_c_is_interrupted_without_error(folder: RunFolder) -> None:
    manifest: dict = {}
    with pytest.raises(KeyboardInterrupt), Session(folder, manifest, print):
        raise KeyboardInterrupt
    entry = manifest_of(folder)["sessions"][-1]
    assert entry["status"] == "interrupted" and "error" not in entry
    assert entry["signal"] == "SIGINT"  # (a SIGTERM is told apart: tests/test_results.py)
    assert manifest_of(folder)["status"] == "interrupted"


def test_a_failing_close_still_records_the_session(folder: RunFolder) -> None:
    manifest: dict = {}

    def bad() -> None:
        raise OSError("close failed")

    later: list[int] = []
    with (
        pytest.raises(OSError, match="close failed"),
        Session(folder, manifest, print, (bad, lambda: later.append(1))),
    ):
        pass
    assert later == [1]  # each closing step runs
    assert manifest_of(folder)["sessions"][-1]["status"] == "finished"


def test_a_full_disk_does_not_hide_the_error_that_stopped_the_run(folder: RunFolder) -> None:
    said, say = lines()
    manifest: dict = {}

    def describe(status: str) -> None:
        raise OSError(28, "No space left on device")

    with (
        pytest.raises(RuntimeError, match="the real error"),
        Session(folder, manifest, say, describe=describe),
    ):
        raise RuntimeError("the real error")
    assert any("could not update" in line and "No space" in line for line in said)
    # ...but on a run that ended well, the failure to record it is the error
    with (
        pytest.raises(OSError, match="No space"),
        Session(folder, manifest, say, describe=describe),
    ):
        pass


def test_engines_are_recorded(folder: RunFolder) -> None:
    class Opened:
        engine: ClassVar[dict] = {"slots": 2}

        class model:
            name = "local/m"

    manifest: dict = {}
    with Session(folder, manifest, print) as s:
        assert s.opened(Opened()) is not None  # type: ignore[arg-type]
    assert manifest_of(folder)["sessions"][-1]["engines"] == {"local/m": {"slots": 2}}


# -- Window ----------------------------------------------------------------------------
def test_window_bounds_what_is_in_flight() -> None:
    stop = threading.Event()
    live, most = [0], [0]
    lock = threading.Lock()

    def work() -> None:
        with lock:
            live[0] += 1
            most[0] = max(most[0], live[0])
        time.sleep(0.01)
        with lock:
            live[0] -= 1

    with Window(8, stop, 1.0, print) as window:
        for _ in range(40):
            window.submit(work, cap=3)
            assert len(window.pending) < 3
        window.join()
    assert most[0] <= 3 and not window.pending and not stop.is_set()


def test_window_raises_the_first_error_stops_and_halts() -> None:
    stop = threading.Event()
    halted: list[int] = []
    started: list[int] = []

    def work(i: int) -> None:
        started.append(i)
        if i == 2:
            raise ValueError("bad sample")

    with (
        pytest.raises(ValueError, match="bad sample"),
        Window(1, stop, 1.0, print, halt=lambda: halted.append(1)) as window,
    ):
        for i in range(50):
            window.submit(work, i, cap=4)
        window.join()
    assert stop.is_set() and halted == [1]
    assert len(started) < 50  # what had not started was dropped


def test_window_ctrl_c_drains_what_is_in_flight() -> None:
    stop = threading.Event()
    said, say = lines()
    finished: list[int] = []
    go = threading.Event()

    def work(i: int) -> None:
        go.wait(5)
        time.sleep(0.05)
        finished.append(i)

    with pytest.raises(KeyboardInterrupt), Window(2, stop, 5.0, say, "drawings") as window:
        for i in range(6):
            window.pending.add(window._pool.submit(work, i))
        time.sleep(0.05)
        go.set()
        raise KeyboardInterrupt
    assert stop.is_set() and not window.abandoned
    assert sorted(finished) == [0, 1]  # the two running were awaited, the rest dropped
    assert any("the 2 drawings already started" in line for line in said)


def test_window_gives_up_after_the_grace_period() -> None:
    stop = threading.Event()
    release = threading.Event()

    def work() -> None:
        release.wait(10)

    try:
        with pytest.raises(KeyboardInterrupt), Window(1, stop, 0.2, print) as window:
            window.pending.add(window._pool.submit(work))
            time.sleep(0.05)
            raise KeyboardInterrupt
        assert window.abandoned
    finally:
        release.set()
