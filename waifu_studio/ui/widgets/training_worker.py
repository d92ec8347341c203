"""Training in a QThread: the worker forwards the trainer's hooks as Qt signals, nothing more.

The :class:`Trainer` knows nothing about Qt; :class:`TrainingWorker` builds the data set and the
trainer and turns every hook call into a signal carrying plain data (numpy arrays, dataclasses).
:class:`TrainingController` owns the thread, wired once with the canonical five connections.

Reading and watching a run folder lives in :mod:`.training_run_folder`.
"""

from __future__ import annotations

import os
import threading
import traceback
from pathlib import Path
from typing import Any

import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ...core.config import RunConfig
from ...core.data import load_dataset
from ...core.errors import TrainingError, WaifuError
from ...core.training import (
    StepMetrics,
    Trainer,
    TrainingHooks,
    read_metrics,
    read_run_config,
)
from ..workers import track_thread


def describe_training_error(err: BaseException, batch_size: int | None = None) -> str:
    """A message a person can act on; out-of-memory always suggests a smaller batch."""
    batch = f" at batch size {batch_size}" if batch_size else ""
    if isinstance(err, WaifuError):
        return str(err)
    if isinstance(err, torch.OutOfMemoryError):
        return (f"The device ran out of memory{batch}. Try a smaller batch size (or a smaller width or "
                "resolution). The last checkpoint is kept.")
    if isinstance(err, MemoryError):
        return f"The computer ran out of memory{batch}. Try a smaller batch size or fewer demo faces."
    return f"{type(err).__name__}: {err}"


class NothingToTrainError(TrainingError):
    """A resumed run has already trained as far as its (possibly raised) epochs or max steps reach."""


def nothing_left_message(trainer: Trainer) -> str:
    """Why a resumed run would not train one more step, and which setting to raise."""
    tc, step, per_epoch = trainer.config.train, trainer.step, trainer.steps_per_epoch
    fixes = []
    if tc.epochs * per_epoch <= step:
        fixes.append(f"set Epochs to {step // per_epoch + 1:,} or more (it is {tc.epochs:,})")
    if tc.max_steps and tc.max_steps <= step:
        fixes.append(f"raise Max steps above {step:,} or set no limit (it is {tc.max_steps:,})")
    return (f"This run has already trained {step:,} steps ({step / per_epoch:.4g} epochs of {per_epoch:,} steps). "
            f"To train it longer, {' and '.join(fixes)}.")


class TrainingWorker(QObject):
    """Loads the faces, builds a :class:`Trainer` and runs it; every hook becomes a signal."""

    data_progress = Signal(int, int)  # done, total
    run_config = Signal(object)  # RunConfig actually used (resume reads it from the folder)
    history = Signal(object)  # list[dict]: rows already logged (resume)
    metrics = Signal(object)  # StepMetrics
    sample = Signal(int, object)  # step, (N, H, W, 3) uint8
    checkpoint = Signal(str, int)  # path, step
    log = Signal(str)
    failed = Signal(str)
    refused = Signal(str)  # a resumed run has nothing left to train: raise epochs or max steps
    done = Signal(object)  # TrainResult
    finished = Signal()

    def __init__(self, run_dir: Path, config: RunConfig | None, resume: bool,
                 stop: threading.Event, pause: threading.Event, overrides: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.run_dir, self.config, self.resume = Path(run_dir), config, resume
        self.overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        self.stop_event, self.pause_event = stop, pause

    @Slot()
    def run(self) -> None:
        batch_size: int | None = None
        try:
            config = read_run_config(self.run_dir) if self.resume else self.config
            assert config is not None
            if self.overrides:  # as the CLI's --resume RUN --epochs N: a new end for the same run
                config = RunConfig(config.model, config.train.replace(**self.overrides), config.data)
            batch_size = config.train.batch_size
            self.run_config.emit(config)
            dataset = load_dataset(config.data, progress=self.data_progress.emit, cancel=self.stop_event)
            self.log.emit(f"data: {dataset.summary()} ({config.data.source})")
            if self.stop_event.is_set():
                self.log.emit("stopped before training started")
                return
            hooks = TrainingHooks(
                stop=self.stop_event, pause=self.pause_event,
                on_metrics=self.metrics.emit, on_sample=self.sample.emit,
                on_checkpoint=lambda path, step: self.checkpoint.emit(str(path), step),
                on_log=self.log.emit)
            trainer = Trainer(config, dataset.images, self.run_dir, hooks, resume=self.resume)
            batch_size = trainer.batch_size
            if self.resume:
                self.history.emit(read_metrics(self.run_dir))
                if trainer.step >= trainer.total_steps:  # run() would only re-save the same checkpoint
                    raise NothingToTrainError(nothing_left_message(trainer))
            self.done.emit(trainer.run())
        except NothingToTrainError as err:
            self.refused.emit(str(err))
        except Exception as err:  # noqa: BLE001 - a thread must report, never raise
            if self.stop_event.is_set() and not isinstance(err, (torch.OutOfMemoryError, MemoryError)):
                self.log.emit(f"stopped: {err}")  # e.g. data loading cancelled by Stop
            else:
                if not isinstance(err, WaifuError):
                    traceback.print_exc()
                self.failed.emit(describe_training_error(err, batch_size))
        finally:
            self.finished.emit()


class _CancelHandle:
    """What ``workers.stop_all`` calls ``cancel()`` on: a clean stop (checkpoint saved)."""

    def __init__(self, stop: threading.Event, pause: threading.Event) -> None:
        self.stop, self.pause = stop, pause

    def cancel(self) -> None:
        self.stop.set()
        self.pause.clear()


class TrainingController(QObject):
    """Owns one training thread at a time. Signals are re-emitted on the GUI thread."""

    data_progress = Signal(int, int)
    run_config = Signal(object)
    history = Signal(object)
    metrics = Signal(object)
    sample = Signal(int, object)
    checkpoint = Signal(str, int)
    log = Signal(str)
    failed = Signal(str)
    refused = Signal(str)
    done = Signal(object)
    started = Signal()
    finished = Signal()  # the thread is over (finished, stopped or failed)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._stop = threading.Event()
        self._pause = threading.Event()

    # ------------------------------------------------------------------ control
    def start(self, run_config: RunConfig, run_dir: str | os.PathLike) -> None:
        """Train ``run_config`` into the new run folder ``run_dir``."""
        self._launch(Path(run_dir), run_config, resume=False)

    def resume(self, run_dir: str | os.PathLike, *, epochs: int | None = None, max_steps: int | None = None) -> None:
        """Continue the run in ``run_dir`` from its last checkpoint, optionally to a new end.

        ``epochs`` / ``max_steps`` replace the stored values, as ``waifu-studio train --resume RUN
        --epochs N`` does; a run with no step left to train reports :attr:`refused`.
        """
        self._launch(Path(run_dir), None, resume=True, overrides={"epochs": epochs, "max_steps": max_steps})

    def pause(self) -> None:
        self._pause.set()

    def unpause(self) -> None:
        self._pause.clear()

    def is_paused(self) -> bool:
        return self._pause.is_set()

    def stop(self) -> None:
        """Ask the trainer to stop; it saves a checkpoint and returns."""
        self._stop.set()
        self._pause.clear()

    def is_running(self) -> bool:
        try:
            return self._thread is not None and self._thread.isRunning()
        except RuntimeError:  # the C++ thread was already deleted
            return False

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Block until the thread ends (close of the window only). True if it ended."""
        if not self.is_running():
            return True
        assert self._thread is not None
        return self._thread.wait(timeout_ms)

    # ------------------------------------------------------------------ wiring
    def _launch(self, run_dir: Path, config: RunConfig | None, *, resume: bool,
                overrides: dict[str, Any] | None = None) -> None:
        if self.is_running():
            raise RuntimeError("a training run is already running")
        self._stop, self._pause = threading.Event(), threading.Event()
        thread = QThread()
        worker = TrainingWorker(run_dir, config, resume, self._stop, self._pause, overrides)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Direct: quit() is thread-safe, and a queued quit would never run while the GUI thread sits in wait().
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        worker.finished.connect(worker.deleteLater)
        thread.finished.connect(thread.deleteLater)
        # Signal-to-signal connections: the controller lives in the GUI thread, so they are queued.
        for name in ("data_progress", "run_config", "history", "metrics", "sample", "checkpoint", "log",
                     "failed", "refused", "done"):
            getattr(worker, name).connect(getattr(self, name))
        thread.finished.connect(self._on_thread_finished)
        thread._task = _CancelHandle(self._stop, self._pause)  # type: ignore[attr-defined]
        self._thread, self._worker = thread, worker
        track_thread(thread)  # stop_all() and the tests' thread check see it too
        thread.start()
        self.started.emit()

    @Slot()
    def _on_thread_finished(self) -> None:
        self._thread = self._worker = None
        self.finished.emit()


def metrics_row(metrics: StepMetrics) -> dict[str, Any]:
    """The same dict a metrics.jsonl line holds, so live and watched runs draw the same way."""
    return metrics.to_json()
