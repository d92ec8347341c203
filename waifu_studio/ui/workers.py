"""Background work for the GUI: one-shot tasks and a latest-request-wins renderer.

The wiring follows superqt's ``new_worker_qthread``: ``moveToThread``, ``started -> run``,
``finished -> quit``, ``finished -> deleteLater``, ``thread.finished -> deleteLater``. Workers
never touch widgets; they emit numpy arrays and plain objects, and the GUI thread draws them.
Every thread is tracked so ``stop_all`` (closeEvent) can cancel and join them.
"""

from __future__ import annotations

import inspect
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ..core.errors import WaifuError

_ACTIVE: set[QThread] = set()


def active_threads() -> list[QThread]:
    """Threads started through this module that are still running."""
    return [t for t in list(_ACTIVE) if _alive(t)]


def _alive(thread: QThread) -> bool:
    try:
        return thread.isRunning()
    except RuntimeError:  # the C++ object is already deleted
        return False


def describe_error(err: BaseException) -> str:
    """A message a person can act on: project errors as they are, others with their type."""
    if isinstance(err, WaifuError):
        return str(err)
    try:
        import torch

        if isinstance(err, torch.OutOfMemoryError):
            return "The device ran out of memory. Try a smaller batch size or grid, or switch to the CPU."
    except ImportError:
        pass
    if isinstance(err, MemoryError):
        return "The computer ran out of memory. Try a smaller batch size, grid or map."
    return f"{type(err).__name__}: {err}"


class TaskWorker(QObject):
    """Runs ``fn`` once in a worker thread.

    If ``fn`` takes keyword arguments ``progress`` and/or ``cancel`` it receives a callable that
    emits :attr:`progress` and the task's ``threading.Event``.
    """

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.cancel_event = threading.Event()
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}
        if "progress" in params:
            self.kwargs["progress"] = self.progress.emit
        if "cancel" in params:
            self.kwargs["cancel"] = self.cancel_event

    @Slot()
    def run(self) -> None:
        try:
            result = self.fn(*self.args, **self.kwargs)
        except Exception as err:  # noqa: BLE001 - every failure is reported to the GUI, never raised in a thread
            if not self.cancel_event.is_set():
                traceback.print_exc()
                self.failed.emit(describe_error(err))
        else:
            if not self.cancel_event.is_set():
                self.succeeded.emit(result)
        finally:
            self.finished.emit()


class Task:
    """Handle of a running :class:`TaskWorker`: cancel it, wait for it."""

    def __init__(self, worker: TaskWorker, thread: QThread) -> None:
        self.worker, self.thread = worker, thread

    def cancel(self) -> None:
        self.worker.cancel_event.set()

    def is_running(self) -> bool:
        return _alive(self.thread)

    def wait(self, ms: int = 5000) -> bool:
        return self.thread.wait(ms) if _alive(self.thread) else True


class _Relay(QObject):
    """Lives in the GUI thread and calls plain Python callbacks there.

    PySide6 runs a plain callable connected to a signal in the emitting thread; only slots of a
    QObject are queued to the receiver's thread. Routing through this object guarantees that
    on_result / on_error / on_progress may touch widgets.
    """

    def __init__(self, on_result, on_error, on_progress, on_finished) -> None:  # noqa: ANN001
        super().__init__()
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


def _callback_owner(callbacks: tuple[Callable | None, ...]) -> QObject | None:
    """The QObject a callback belongs to: a bound method's object, or a QObject a closure captured.

    The relay becomes that object's child, so when a panel is closed and deleted, results that
    arrive later are dropped by Qt instead of reaching a deleted widget.
    """
    for callback in callbacks:
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, QObject):
            return owner
        for cell in getattr(callback, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if isinstance(value, QObject):
                return value
    return None


def start_task(fn: Callable[..., Any], *args: Any, on_result: Callable[[Any], None] | None = None,
               on_error: Callable[[str], None] | None = None, on_progress: Callable[[Any], None] | None = None,
               on_finished: Callable[[], None] | None = None, owner: QObject | None = None, **kwargs: Any) -> Task:
    """Run ``fn(*args, **kwargs)`` in a new QThread; the callbacks run on the calling (GUI) thread.

    ``owner`` (default: the widget the callbacks belong to) bounds their lifetime: once it is
    deleted, the callbacks are no longer called.
    """
    thread = QThread()
    worker = TaskWorker(fn, *args, **kwargs)
    worker.moveToThread(thread)
    relay = _Relay(on_result, on_error, on_progress, on_finished)
    owner = owner or _callback_owner((on_result, on_error, on_progress, on_finished))
    if owner is not None and owner.thread() is relay.thread():
        relay.setParent(owner)
    thread.started.connect(worker.run)
    # Direct: quit() is thread-safe, and a GUI thread blocked in wait() could not run a queued one.
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    worker.finished.connect(worker.deleteLater)
    thread.finished.connect(thread.deleteLater)
    thread.finished.connect(lambda t=thread: _ACTIVE.discard(t), Qt.ConnectionType.DirectConnection)
    worker.succeeded.connect(relay.result)
    worker.failed.connect(relay.error)
    worker.progress.connect(relay.progress)
    worker.finished.connect(relay.finished)
    _ACTIVE.add(thread)
    task = Task(worker, thread)
    task.relay = relay  # type: ignore[attr-defined]  # keep the relay alive as long as the task
    thread._task = task  # type: ignore[attr-defined]  # keep the Python wrapper alive with the thread
    thread.start()
    return task


def track_thread(thread: QThread) -> None:
    """Register a thread started elsewhere (the training controller) for stop_all and the tests."""
    _ACTIVE.add(thread)
    thread.finished.connect(lambda t=thread: _ACTIVE.discard(t), Qt.ConnectionType.DirectConnection)


class _RenderWorker(QObject):
    rendered = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, owner: LatestRenderer) -> None:
        super().__init__()
        self._owner = owner

    @Slot()
    def process(self) -> None:
        # Wake-ups pile up while a render runs; each takes the newest pending job, or nothing.
        job = self._owner._take()
        if job is None:
            return
        stamp, fn = job
        try:
            result = fn()
        except Exception as err:  # noqa: BLE001 - reported to the GUI
            self.failed.emit(stamp, describe_error(err))
        else:
            self.rendered.emit(stamp, result)


class LatestRenderer(QObject):
    """A persistent worker thread where only the newest request is computed (StyleGAN3 visualizer idea).

    ``request(fn)`` replaces any request not yet started; results older than the newest delivered
    stamp are dropped, so a fast slider drag never builds a queue of stale decodes.
    """

    result = Signal(object)  # newest result only
    error = Signal(str)
    _wake = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: tuple[int, Callable[[], Any]] | None = None
        self._stamp = 0
        self._delivered = -1
        self._thread = QThread()
        self._worker = _RenderWorker(self)
        self._worker.moveToThread(self._thread)
        self._wake.connect(self._worker.process)
        self._worker.rendered.connect(self._on_rendered)
        self._worker.failed.connect(self._on_failed)
        self._thread.finished.connect(self._worker.deleteLater)
        _ACTIVE.add(self._thread)
        self._thread.finished.connect(lambda t=self._thread: _ACTIVE.discard(t))
        self._thread.start()

    def request(self, fn: Callable[[], Any]) -> int:
        with self._lock:
            self._stamp += 1
            self._pending = (self._stamp, fn)
            stamp = self._stamp
        self._wake.emit()
        return stamp

    @property
    def latest_stamp(self) -> int:
        return self._stamp

    def _take(self) -> tuple[int, Callable[[], Any]] | None:
        with self._lock:
            job, self._pending = self._pending, None
            return job

    def _on_rendered(self, stamp: int, value: Any) -> None:
        if stamp > self._delivered:
            self._delivered = stamp
            self.result.emit(value)

    def _on_failed(self, stamp: int, message: str) -> None:
        if stamp >= self._delivered:
            self.error.emit(message)

    def is_idle(self) -> bool:
        with self._lock:
            return self._pending is None and self._delivered == self._stamp

    def shutdown(self, ms: int = 3000) -> None:
        with self._lock:
            self._pending = None
        if _alive(self._thread):
            self._thread.quit()
            self._thread.wait(ms)


def stop_all(timeout_ms: int = 2000) -> bool:
    """Cancel every tracked task and join its thread (closeEvent). True if all stopped."""
    ok = True
    for thread in active_threads():
        task = getattr(thread, "_task", None)
        if task is not None:
            task.cancel()
        thread.quit()
    for thread in active_threads():
        ok = thread.wait(timeout_ms) and ok
    return ok
