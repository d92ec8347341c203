"""Training in a QThread: the worker forwards the trainer's hooks as Qt signals, nothing more.

The :class:`Trainer` knows nothing about Qt; :func:`run_training` builds the data set and the
trainer and turns every hook call into a progress event carrying plain data (numpy arrays,
dataclasses). :class:`TrainingController` runs it through :class:`Jobs` (the app's one way to run
background work) and re-emits the events as signals on the GUI thread.

Reading and watching a run folder lives in :mod:`.training_run_folder`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PySide6.QtCore import QObject, Signal

from ...core.config import RunConfig
from ...core.data import load_dataset
from ...core.errors import TrainingError, WaifuError
from ...core.training import (
    NothingToTrainError,
    StepMetrics,
    Trainer,
    TrainingHooks,
    TrainResult,
    read_metrics,
    read_run_config,
    resumed_config,
)
from ...core.training.run_lock import RunFolderLock
from ..workers import Jobs, TaskContext, is_expected_error

TRAIN_KEY = "train"


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


@dataclass(frozen=True)
class TrainingEvent:
    """What the training job reports while it runs (as ``ctx.progress`` values): ``kind`` and its data."""

    kind: str  # data_progress, training_started, run_config, history, metrics, sample, checkpoint, log
    args: tuple


@dataclass(frozen=True)
class Refused:
    """A resumed run has nothing left to train (the job's result, not an error)."""

    message: str


def run_training(ctx: TaskContext, run_dir: Path, config: RunConfig | None, resume: bool, pause: threading.Event,
                 overrides: dict[str, Any]) -> TrainResult | Refused | None:
    """Load the faces, build a :class:`Trainer` and run it; every hook becomes a :class:`TrainingEvent`.

    ``ctx.stop`` (Stop, or closing the window) ends training cleanly: the trainer saves a checkpoint.
    """

    def emit(kind: str, *args: Any) -> None:
        ctx.progress(TrainingEvent(kind, args))

    batch_size: int | None = None
    lock = RunFolderLock(run_dir)  # one writer per run folder, taken before the data loads
    try:
        lock.acquire(create=not resume)
        config = read_run_config(run_dir) if resume else config
        assert config is not None
        if overrides:  # as the CLI's --resume RUN --epochs N --lr X: what a resume may change
            config = resumed_config(config, overrides)
        batch_size = config.train.batch_size
        emit("run_config", config)
        dataset = load_dataset(config.data, progress=lambda done, total: emit("data_progress", done, total),
                               cancel=ctx.stop)
        emit("log", f"data: {dataset.summary()} ({config.data.source})")
        if ctx.stop.is_set():
            emit("log", "stopped before training started")
            return None
        hooks = TrainingHooks(
            stop=ctx.stop, pause=pause,
            on_metrics=lambda metrics: emit("metrics", metrics),
            on_sample=lambda step, faces: emit("sample", step, faces),
            on_checkpoint=lambda path, step: emit("checkpoint", str(path), step),
            on_log=lambda message: emit("log", message))
        try:
            trainer = Trainer(config, dataset.images, run_dir, hooks, resume=resume, lock=lock)
        except NothingToTrainError as err:  # the core rule, named with the form's labels
            return Refused(err.message(lambda setting: setting.label))
        batch_size = trainer.batch_size
        if resume:
            emit("history", read_metrics(run_dir))
        emit("training_started", trainer.step, trainer.total_steps)
        return trainer.run()
    except Exception as err:
        if ctx.stop.is_set() and not isinstance(err, (torch.OutOfMemoryError, MemoryError)):
            emit("log", f"stopped: {err}")  # e.g. data loading cancelled by Stop
            return None
        if is_expected_error(err):
            raise TrainingError(describe_training_error(err, batch_size)) from err
        raise  # a bug: the jobs print its traceback
    finally:
        lock.release()


class TrainingController(QObject):
    """Runs one training at a time through the owner's :class:`Jobs`; its signals fire on the GUI thread."""

    data_progress = Signal(int, int)
    training_started = Signal(int, int)  # step, total steps: the faces are loaded, steps run
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
    finished = Signal()  # the job is over (finished, stopped or failed)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = Jobs(self)
        self._pause = threading.Event()

    # ------------------------------------------------------------------ control
    def start(self, run_config: RunConfig, run_dir: str | os.PathLike) -> None:
        """Train ``run_config`` into the new run folder ``run_dir``."""
        self._launch(Path(run_dir), run_config, resume=False)

    def resume(self, run_dir: str | os.PathLike, **overrides: Any) -> None:
        """Continue the run in ``run_dir`` from its last checkpoint with ``overrides`` (epochs=, lr=...).

        As ``waifu-studio train --resume RUN --epochs N`` does: settings a resume may not change are
        refused (:attr:`failed`); a run with no step left to train reports :attr:`refused`.
        """
        self._launch(Path(run_dir), None, resume=True, overrides=overrides)

    def pause(self) -> None:
        self._pause.set()

    def unpause(self) -> None:
        self._pause.clear()

    def is_paused(self) -> bool:
        return self._pause.is_set()

    def stop(self) -> None:
        """Ask the trainer to stop; it saves a checkpoint and returns."""
        self._pause.clear()
        self.jobs.stop(TRAIN_KEY)

    def is_running(self) -> bool:
        """True while the training thread runs (its last signals may still be on their way)."""
        task = self.jobs.running(TRAIN_KEY)
        return task is not None and task.thread_alive()

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Block until the job's thread ends (tests, last resort). True if it ended."""
        task = self.jobs.running(TRAIN_KEY)
        return task is None or task.wait(timeout_ms)

    # ------------------------------------------------------------------ wiring
    def _launch(self, run_dir: Path, config: RunConfig | None, *, resume: bool,
                overrides: dict[str, Any] | None = None) -> None:
        if self.is_running():
            raise RuntimeError("a training run is already running")
        self._pause = pause = threading.Event()
        changes = {k: v for k, v in (overrides or {}).items() if v is not None}
        self.jobs.submit(TRAIN_KEY, lambda ctx: run_training(ctx, run_dir, config, resume, pause, changes),
                         on_progress=self._on_event, on_result=self._on_result, on_error=self.failed.emit,
                         on_finished=self.finished.emit)
        self.started.emit()

    def _on_event(self, event: TrainingEvent) -> None:
        getattr(self, event.kind).emit(*event.args)

    def _on_result(self, result: TrainResult | Refused | None) -> None:
        if isinstance(result, Refused):
            self.refused.emit(result.message)
        elif result is not None:
            self.done.emit(result)


def metrics_row(metrics: StepMetrics) -> dict[str, Any]:
    """The same dict a metrics.jsonl line holds, so live and watched runs draw the same way."""
    return metrics.to_json()
