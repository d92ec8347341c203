"""``start_task`` whose callbacks are guaranteed to run on the GUI thread, closures included.

PySide6 runs a plain Python callable (lambda, closure, partial) connected to a worker's signal in
the *emitting* thread: only bound methods of a QObject living in the GUI thread get a queued
connection. A relay QObject owned by the panel turns any callable into such a method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Slot

from ..workers import Task, start_task


class _TaskRelay(QObject):
    """Lives in the GUI thread; forwards one task's signals to plain callables, then goes away."""

    def __init__(self, owner: QObject, on_result: Callable | None, on_error: Callable | None,
                 on_progress: Callable | None, on_finished: Callable | None) -> None:
        super().__init__(owner)
        self._on_result, self._on_error = on_result, on_error
        self._on_progress, self._on_finished = on_progress, on_finished

    @Slot(object)
    def result(self, value: Any) -> None:
        if self._on_result is not None:
            self._on_result(value)

    @Slot(str)
    def error(self, message: str) -> None:
        if self._on_error is not None:
            self._on_error(message)

    @Slot(object)
    def progress(self, value: Any) -> None:
        if self._on_progress is not None:
            self._on_progress(value)

    @Slot()
    def finished(self) -> None:
        if self._on_finished is not None:
            self._on_finished()
        self.deleteLater()


def start_gui_task(owner: QObject, fn: Callable[..., Any], *args: Any, on_result: Callable | None = None,
                   on_error: Callable | None = None, on_progress: Callable | None = None,
                   on_finished: Callable | None = None, **kwargs: Any) -> Task:
    """Like :func:`~waifu_studio.ui.workers.start_task`; every callback runs on ``owner``'s (GUI) thread."""
    relay = _TaskRelay(owner, on_result, on_error, on_progress, on_finished)
    return start_task(fn, *args, on_result=relay.result, on_error=relay.error,
                      on_progress=relay.progress if on_progress is not None else None,
                      on_finished=relay.finished, **kwargs)
