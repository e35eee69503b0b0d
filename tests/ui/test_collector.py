"""The cycle collector runs on the GUI thread: garbage made while a worker allocates is freed there."""

from __future__ import annotations

import gc
import threading
from typing import Any, ClassVar

from ui.collector import GuiThreadCollector, collect_on_gui_thread


class _Cycle:
    """Half of a reference cycle that notes the thread that freed it."""

    freed_on: ClassVar[list[str]] = []

    def __init__(self) -> None:
        self.other: _Cycle | None = None

    def __del__(self) -> None:
        _Cycle.freed_on.append(threading.current_thread().name)


def _drop_a_cycle() -> None:
    a, b = _Cycle(), _Cycle()
    a.other, b.other = b, a


def _allocate_like_the_recorder() -> None:
    """Far more container allocations than any generation's threshold, as a busy recorder thread makes."""
    for _ in range(20):
        kept = [{"t": i} for i in range(10_000)]
        del kept


def test_garbage_is_freed_on_the_gui_thread_not_on_a_busy_worker(
    qtbot: Any, qapp: Any, gui_collector: GuiThreadCollector
) -> None:
    assert collect_on_gui_thread(qapp) is gui_collector  # one per application
    assert gui_collector.active and not gc.isenabled()
    gc.collect()
    _Cycle.freed_on.clear()
    _drop_a_cycle()
    worker = threading.Thread(target=_allocate_like_the_recorder, name="recorder-like")
    worker.start()
    worker.join()
    assert _Cycle.freed_on == []  # the worker's allocations started no collection
    qtbot.waitUntil(lambda: len(_Cycle.freed_on) == 2, timeout=5_000)
    assert set(_Cycle.freed_on) == {threading.main_thread().name}


def test_without_it_the_worker_frees_the_garbage(gui_collector: GuiThreadCollector) -> None:
    """What the collector prevents, shown with automatic collection back on for a moment."""
    gc.collect()
    _Cycle.freed_on.clear()
    gc.enable()
    try:
        _drop_a_cycle()
        worker = threading.Thread(target=_allocate_like_the_recorder, name="recorder-like")
        worker.start()
        worker.join()
    finally:
        gc.disable()
    assert _Cycle.freed_on == ["recorder-like", "recorder-like"]
