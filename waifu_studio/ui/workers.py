"""The one way the GUI runs background work: :class:`Jobs`, owned by a widget, keyed by request.

Every panel, the model selector and training start their work through a ``Jobs`` object:

* A job is a plain callable that takes one argument, a :class:`TaskContext` (explicit and typed:
  ``ctx.progress(value)``, ``ctx.cancel`` and ``ctx.stop`` events). It runs in its own QThread,
  wired as superqt's ``new_worker_qthread`` does (``moveToThread``, ``started -> run``,
  ``finished -> quit``, ``thread.finished -> deleteLater``), except that the runner is deleted
  on the GUI thread once its thread has ended (see ``_finished``), never in its own thread. It
  never touches a widget; it returns numpy arrays and plain objects.
* ``owner`` is explicit: the callbacks run on the GUI thread through a relay that is the
  owner's child, so nothing reaches a deleted widget; the owner's ``destroyed`` cancels its jobs.
* Requests are keyed. A new request for a key supersedes the older one: the older job is
  cancelled, at most one job per key runs, and the newest request waits for it (no queue of stale
  decodes: StyleGAN3's visualizer idea). Results of superseded or cancelled requests are dropped
  here, in one place, so no panel compares stamps by hand. A render that may show a superseded
  result while a drag goes on (``show_superseded=True``) still never shows an older one after a
  newer one.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ..core.errors import WaifuError

Job = Callable[["TaskContext"], Any]


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


def is_expected_error(err: BaseException) -> bool:
    """Errors a user can cause (bad file, full disk, out of memory): shown in a dialog, no traceback."""
    if isinstance(err, (WaifuError, OSError, MemoryError)):
        return True
    try:
        import torch

        return isinstance(err, torch.OutOfMemoryError)
    except ImportError:
        return False


class Cancelled(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by :meth:`TaskContext.raise_if_cancelled`; a cancelled job's end is never reported."""


@dataclass
class TaskContext:
    """What a job gets: report progress, see whether to end early.

    ``cancel``: the result is no longer wanted (a newer request, a model switch, closing): end
    as soon as possible. ``stop``: end early but return what you have (an inversion's Cancel
    button, training's Stop); a cancel always sets ``stop`` too, so a job may watch ``stop`` only.
    """

    cancel: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    _emit: Callable[[Any], None] = field(default=lambda _value: None, repr=False)

    def progress(self, value: Any) -> None:
        """Send ``value`` to the job's ``on_progress`` on the GUI thread (dropped once superseded)."""
        self._emit(value)

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancel.is_set():
            raise Cancelled


class _Runner(QObject):
    """Lives in the job's thread; runs the job once and reports through signals."""

    progressed = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, object)  # message, the exception (for logging by type)
    finished = Signal()

    def __init__(self, job: Job, context: TaskContext) -> None:
        super().__init__()
        self._job, self._context = job, context

    @Slot()
    def run(self) -> None:
        try:
            result = self._job(self._context)
        except Cancelled:
            pass
        except Exception as err:  # noqa: BLE001 - a thread reports every failure, never raises
            self.failed.emit(describe_error(err), err)
        else:
            self.succeeded.emit(result)
        finally:
            self.finished.emit()


class Task:
    """One submitted job: its thread (once started), its context, and whether it is still wanted."""

    def __init__(self, key: str, job: Job, stamp: int) -> None:
        self.key, self.job, self.stamp = key, job, stamp
        self.context = TaskContext()
        self.thread: QThread | None = None
        self.runner: _Runner | None = None
        self.done = False

    def cancel(self) -> None:
        """Drop the result and ask the job to end (it sees ``ctx.cancel`` and ``ctx.stop``)."""
        self.context.cancel.set()
        self.context.stop.set()

    def stop(self) -> None:
        """Ask the job to end early and still deliver what it has."""
        self.context.stop.set()

    def is_running(self) -> bool:
        """True until the job's callbacks are all delivered (``on_finished`` included)."""
        return not self.done

    def thread_alive(self) -> bool:
        """True while the job's thread runs (its callbacks may still be on their way after that)."""
        if self.done or self.thread is None:
            return False
        try:
            return self.thread.isRunning()
        except RuntimeError:  # already deleted by Qt: it ended
            return False

    def wait(self, ms: int = 5000) -> bool:
        """Block until the thread ends (closing only). True if it ended."""
        thread = self.thread
        if thread is None or self.done:
            return self.done or thread is None
        try:
            return thread.wait(ms)
        except RuntimeError:  # already deleted by Qt: it ended
            return True


@dataclass
class _Callbacks:
    on_result: Callable[[Any], None] | None = None
    on_error: Callable[[str], None] | None = None
    on_progress: Callable[[Any], None] | None = None
    on_finished: Callable[[], None] | None = None
    show_superseded: bool = False


class _Channel:
    """The requests of one key: the running task, the newest waiting one, what was shown."""

    def __init__(self) -> None:
        self.running: Task | None = None
        self.pending: tuple[Task, _Callbacks] | None = None
        self.newest = 0  # stamp of the newest request
        self.shown = 0  # stamp of the newest result delivered


_ALL_JOBS: weakref.WeakSet[Jobs] = weakref.WeakSet()
# Every started task until its thread has ended and been joined: a QThread's Python wrapper must
# outlive the thread, or PySide deletes it while it runs ("Destroyed while thread is still running").
_LIVE: set[Task] = set()


class Jobs(QObject):
    """The background work of one owner (a panel, the model selector, the training controller)."""

    idle_changed = Signal(bool)  # True when nothing runs or waits any more

    def __init__(self, owner: QObject) -> None:
        super().__init__(owner)  # a child of the owner: its relays die with it
        self._channels: dict[str, _Channel] = {}
        self._stamp = 0
        self._closed = False
        _ALL_JOBS.add(self)

    # ------------------------------------------------------------------ public
    def submit(self, key: str, job: Job, *, on_result: Callable[[Any], None] | None = None,
               on_error: Callable[[str], None] | None = None, on_progress: Callable[[Any], None] | None = None,
               on_finished: Callable[[], None] | None = None, show_superseded: bool = False) -> Task:
        """Run ``job(ctx)`` for ``key``; it supersedes any earlier request for the same key.

        Callbacks run on the GUI thread, only for the newest request of the key (``on_finished``
        when its job ended, whatever the outcome). ``show_superseded``: a result finished after a
        newer request was made is still shown, if nothing newer was shown (live drags).
        """
        self._stamp += 1
        task = Task(key, job, self._stamp)
        callbacks = _Callbacks(on_result, on_error, on_progress, on_finished, show_superseded)
        channel = self._channels.setdefault(key, _Channel())
        channel.newest = task.stamp
        if self._closed:
            task.done = True
            return task
        if channel.pending is not None:
            channel.pending[0].done = True  # never started: replaced by this one
        if channel.running is not None:
            if not callbacks.show_superseded:
                channel.running.cancel()
            channel.pending = (task, callbacks)
        else:
            self._start(channel, task, callbacks)
        return task

    def cancel(self, key: str | None = None) -> None:
        """Drop the results of ``key`` (every key when None) and ask the running jobs to end."""
        for name, channel in list(self._channels.items()):
            if key is not None and name != key:
                continue
            self._stamp += 1
            channel.newest = channel.shown = self._stamp  # nothing before now may be shown
            if channel.pending is not None:
                channel.pending[0].done = True
                channel.pending = None
            if channel.running is not None:
                channel.running.cancel()

    def stop(self, key: str) -> None:
        """Ask the running job of ``key`` to end early and still deliver its result."""
        channel = self._channels.get(key)
        if channel is not None and channel.running is not None:
            channel.running.stop()

    def is_busy(self, key: str | None = None) -> bool:
        return any(c.running is not None or c.pending is not None for k, c in self._channels.items()
                   if key is None or k == key)

    def is_idle(self) -> bool:
        return not self.is_busy()

    def running(self, key: str) -> Task | None:
        channel = self._channels.get(key)
        return channel.running if channel is not None else None

    def shutdown(self, timeout_ms: int = 5000, *, cancel: bool = True) -> bool:
        """Cancel (or, with ``cancel=False``, let finish) every job and join its thread. True if all ended."""
        self._closed = True
        if cancel:
            self.cancel()
        ok = True
        for channel in self._channels.values():
            if channel.running is not None:
                ok = channel.running.wait(timeout_ms) and ok
        return ok

    # ------------------------------------------------------------------ wiring
    def _start(self, channel: _Channel, task: Task, callbacks: _Callbacks) -> None:
        thread = QThread()
        runner = _Runner(task.job, task.context)
        runner.moveToThread(thread)
        relay = _Relay(self, channel, task, callbacks)
        task.context._emit = runner.progressed.emit
        task.thread, task.runner = thread, runner
        thread.started.connect(runner.run)
        # Direct: quit() is thread-safe, and a GUI thread blocked in wait() could not run a queued one.
        runner.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        # No runner.finished -> runner.deleteLater: deleting this Python-made QObject in its own thread
        # runs ~QObject there, which holds a Qt connection lock while PySide takes the GIL to look
        # for Python overrides; a GUI thread holding the GIL and connecting a signal (building a
        # widget) waits on the same pooled lock: both threads hung (seen in the UI test suite).
        thread.finished.connect(thread.deleteLater)
        # The relay lives on the GUI thread: these connections are queued to it.
        runner.progressed.connect(relay.progressed)
        runner.succeeded.connect(relay.succeeded)
        runner.failed.connect(relay.failed)
        thread.finished.connect(relay.finished)
        channel.running = task
        _LIVE.add(task)
        thread.start()

    def _deliver(self, channel: _Channel, task: Task, callbacks: _Callbacks, kind: str, value: Any) -> None:
        """The one place where stale results are dropped."""
        newest = task.stamp == channel.newest
        if task.context.cancelled and not newest:
            return
        if kind == "progress":
            if newest and callbacks.on_progress is not None:
                callbacks.on_progress(value)
            return
        if task.context.cancelled or task.stamp <= channel.shown:
            return
        if not newest and not callbacks.show_superseded:
            return
        channel.shown = task.stamp
        if kind == "result" and callbacks.on_result is not None:
            callbacks.on_result(value)
        elif kind == "error" and callbacks.on_error is not None:
            callbacks.on_error(value)

    def _finished(self, channel: _Channel, task: Task, callbacks: _Callbacks) -> None:
        if task.thread is not None:
            try:
                task.thread.wait()  # it emitted finished and is ending: returns at once; then it is safe to drop
            except RuntimeError:  # Qt already deleted it (thread.finished -> deleteLater ran first)
                pass
        # The thread has ended: the runner is deleted here, on the GUI thread (see ``_start``).
        runner, task.runner = task.runner, None
        task.context._emit = _ignore
        if runner is not None:
            shiboken6.delete(runner)
        task.done = True
        _LIVE.discard(task)
        if channel.running is task:
            channel.running = None
        if task.stamp == channel.newest and not task.context.cancelled and callbacks.on_finished is not None:
            callbacks.on_finished()
        if channel.pending is not None and not self._closed:
            pending, pending_callbacks = channel.pending
            channel.pending = None
            self._start(channel, pending, pending_callbacks)
        if self.is_idle():
            self.idle_changed.emit(True)


def _ignore(_value: Any) -> None:
    """Progress reported after a job ended goes nowhere."""


class _Relay(QObject):
    """Lives on the GUI thread and hands a job's signals to :class:`Jobs` there.

    PySide6 runs a plain callable connected to a signal in the emitting thread; only slots of a
    QObject are queued to the receiver's thread, so the callbacks go through this object.
    """

    def __init__(self, jobs: Jobs, channel: _Channel, task: Task, callbacks: _Callbacks) -> None:
        super().__init__(jobs)
        self._jobs, self._channel, self._task, self._callbacks = jobs, channel, task, callbacks

    @Slot(object)
    def progressed(self, value: Any) -> None:
        self._jobs._deliver(self._channel, self._task, self._callbacks, "progress", value)

    @Slot(object)
    def succeeded(self, value: Any) -> None:
        self._jobs._deliver(self._channel, self._task, self._callbacks, "result", value)

    @Slot(str, object)
    def failed(self, message: str, err: BaseException) -> None:
        if not is_expected_error(err):  # a bug: keep its traceback for the report
            import traceback

            traceback.print_exception(err)
        self._jobs._deliver(self._channel, self._task, self._callbacks, "error", message)

    @Slot()
    def finished(self) -> None:
        self._jobs._finished(self._channel, self._task, self._callbacks)
        self.deleteLater()


def shutdown_all(timeout_ms: int = 5000) -> bool:
    """Cancel every owner's jobs and join their threads (the main window's close). True if all ended."""
    ok = True
    for jobs in list(_ALL_JOBS):
        try:
            ok = jobs.shutdown(timeout_ms) and ok
        except RuntimeError:  # its owner is already deleted, and its threads with it
            continue
    return ok
