"""One training loop for every family, with hooks and no UI knowledge.

The GUI worker and the CLI both build a :class:`Trainer` and call :meth:`Trainer.run`. The
loop checks ``hooks.stop`` and ``hooks.pause`` between steps (StyleGAN3's abort_fn idea) and
reports through plain callbacks carrying plain data.

A run folder holds ``config.json``, ``metrics.jsonl`` (one JSON object per logged step),
``samples/step_XXXXXXXX.png`` (fixed seeds), ``checkpoint.safetensors`` (the model, openable by
the app) and ``train_state.pt`` (optimizers, step, RNG; what ``--resume`` needs).

Under ``torchrun`` (see ``distributed``) each rank trains on its slice of every global batch,
gradients are averaged before each optimizer step, and rank 0 alone writes the run folder.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import RunConfig
from ..devices import resolve_precision, select_device
from ..errors import NonFiniteLossError, OutOfMemoryError, TrainingError, WaifuError
from ..io.checkpoint import save_checkpoint
from ..io.files import append_jsonl, atomic_write_bytes
from ..models import FaceModel, build_model, build_objective
from . import distributed
from .resume import check_steps_left
from .resume_state import StateRefused, check_state, one_line, read_state, state_size_limit
from .run_folder import (
    CHECKPOINT_NAME,
    METRICS_NAME,
    SAMPLES_DIR,
    STATE_NAME,
    prepare_resumed_folder,
    start_run_folder,
)
from .run_lock import RunFolderLock
from .snapshots import SnapshotKeeper


@dataclass(frozen=True)
class StepMetrics:
    """One logged step: loss terms averaged since the previous log, speed and progress."""

    step: int
    total_steps: int
    epoch: int  # 0-based epoch the step belongs to
    epochs: int
    images_seen: int
    losses: dict[str, float]
    images_per_sec: float
    eta_seconds: float
    elapsed_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "total_steps": self.total_steps, "epoch": self.epoch, "epochs": self.epochs,
                "images_seen": self.images_seen, "images_per_sec": round(self.images_per_sec, 2),
                "eta_s": round(self.eta_seconds, 1), "time_s": round(self.elapsed_seconds, 2), **self.losses}


@dataclass
class TrainingHooks:
    """How a front end steers and watches a run. Every callback runs on the training thread."""

    stop: threading.Event = field(default_factory=threading.Event)
    pause: threading.Event = field(default_factory=threading.Event)  # set = paused
    on_metrics: Callable[[StepMetrics], None] | None = None
    on_sample: Callable[[int, np.ndarray], None] | None = None  # step, (N, H, W, 3) uint8 faces
    on_checkpoint: Callable[[Path, int], None] | None = None
    on_log: Callable[[str], None] | None = None


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    checkpoint: Path
    steps: int
    stopped: bool  # True when stopped by the user before the planned end
    elapsed_seconds: float


SAMPLE_GAP_S = 20.0  # epoch-end samples no more often than this (fast GPUs end an epoch every second)


class Trainer:
    """Trains ``run_config.model`` on ``images`` (N, H, W, 3) uint8, writing into ``run_dir``."""

    def __init__(self, run_config: RunConfig, images: np.ndarray, run_dir: str | os.PathLike,
                 hooks: TrainingHooks | None = None, *, resume: bool = False,
                 lock: RunFolderLock | None = None) -> None:
        """``lock``: the run folder's lock, already taken by the caller (before loading data, say);
        without one the trainer takes it here. Either way one process writes a run folder."""
        self.config = run_config
        self.run_dir = Path(run_dir)
        self.hooks = hooks or TrainingHooks()
        res = run_config.model.resolution
        if images.ndim != 4 or images.shape[1:] != (res, res, 3) or images.dtype != np.uint8:
            raise TrainingError(f"training images must be uint8 (N, {res}, {res}, 3), "
                                f"got {images.shape} {images.dtype}")
        # Under torchrun each rank trains on its own slice of every global batch (see _batch).
        self.world_size, self.rank = distributed.world_size(), distributed.rank()
        if len(images) < 2 * self.world_size:
            raise TrainingError(f"training needs at least {2 * self.world_size} faces")
        self._own_lock: RunFolderLock | None = None
        if distributed.is_main_process() and (lock is None or not lock.held):  # rank 0 alone writes
            self._own_lock = RunFolderLock(self.run_dir).acquire(create=not resume)
        try:
            self._setup(images, resume)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the run folder if this trainer locked it (``run`` does this when it returns)."""
        if self._own_lock is not None:
            self._own_lock.release()
            self._own_lock = None

    def _setup(self, images: np.ndarray, resume: bool) -> None:
        run_config, tc = self.config, self.config.train
        self.batch_size = min(tc.batch_size, max(1, len(images) // self.world_size))
        self.device = distributed.local_device(select_device(tc.device))
        self.precision = resolve_precision(tc.precision, self.device)
        torch.manual_seed(tc.seed)
        self.model: FaceModel = build_model(run_config.model).to(self.device)
        self.objective = build_objective(self.model, tc)
        if tc.channels_last:
            for module in {id(m): m for m in [self.model, *self.objective.trained_modules.values()]}.values():
                module.to(memory_format=torch.channels_last)
        if tc.compile:
            self.objective.compile_modules()
        # The whole set lives on the device as uint8: no per-sample decoding, 4x less memory than float.
        self.data = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        self.steps_per_epoch = max(1, len(images) // (self.batch_size * self.world_size))
        planned = tc.epochs * self.steps_per_epoch
        self.total_steps = min(planned, tc.max_steps) if tc.max_steps else planned
        self.data_rng = torch.Generator().manual_seed(tc.seed)
        self.step = 0
        self.elapsed_before = 0.0  # wall time of earlier sessions of this run
        self._perm = torch.randperm(len(self.data), generator=self.data_rng)
        self._sums: dict[str, torch.Tensor] = {}
        self._last_sample_step = -1
        self._last_sample_time = 0.0
        self._sum_count = 0
        if resume:
            self._load_state()
        else:
            distributed.on_main(lambda: start_run_folder(self.run_dir, self.config))
        self.snapshots = SnapshotKeeper(self.run_dir, tc, self.total_steps)
        if self.world_size > 1:
            self._setup_distributed()


    def _setup_distributed(self) -> None:
        """Same weights on every rank, gradients averaged before every optimizer step, own noise per rank."""
        modules = [self.model, *self.objective.trained_modules.values()]
        for module in modules:
            distributed.broadcast_module(module)
        optimizers = [v for v in vars(self.objective).values() if isinstance(v, torch.optim.Optimizer)]
        for opt in optimizers:
            opt.register_step_pre_hook(
                lambda o, args, kwargs: distributed.average_gradients(p for g in o.param_groups for p in g["params"]))
        # Identical initialisation came from the shared seed; the noise each rank draws must differ.
        torch.manual_seed((self.config.train.seed + 1) * 1_000_003 + self.step * 101 + self.rank)

    # ------------------------------------------------------------ run folder
    def _load_state(self) -> None:
        path = self.run_dir / STATE_NAME
        if not path.exists():
            raise TrainingError(
                f"nothing to resume in {self.run_dir}: no {STATE_NAME} (did the run save a checkpoint?)")
        modules = self.objective.trained_modules
        try:
            limit = state_size_limit([self.model, *modules.values()], len(self.data))
            state = read_state(path, limit)
            check_state(state, model=self.model, objective_state=self.objective.state_dict(), modules=modules,
                        optimizers=self.objective.optimizers, faces=len(self.data))
            self.model.load_state_dict(state["model"])
            self.objective.load_state_dict(state["objective"])
        except StateRefused as err:
            raise TrainingError(f"cannot resume {self.run_dir}: {err}") from None
        except (RuntimeError, ValueError, KeyError, TypeError) as err:  # what the checks above did not foresee
            raise TrainingError(f"cannot resume {self.run_dir}: {STATE_NAME} does not fit this run "
                                f"({one_line(err)})") from None
        self.step = int(state["step"])
        self.elapsed_before = float(state["elapsed"])
        self.data_rng.set_state(state["data_rng"])
        self._perm = state["perm"]
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"])
        check_steps_left(self.step, self.steps_per_epoch, self.total_steps, self.config.train)
        distributed.on_main(lambda: prepare_resumed_folder(self.run_dir, self.step, self.config))
        self._log(f"resumed {self.run_dir} at step {self.step}")

    def save(self, *, final: bool = False) -> Path:
        """Write the model checkpoint and the resume state (both atomically)."""
        if not final:  # the final save follows objective.finish(), which already did the full work
            self.objective.before_save(self.data)
        elapsed = self.elapsed_before + (time.perf_counter() - self._t_start if hasattr(self, "_t_start") else 0.0)
        summary = {"steps": self.step, "images_seen": self.step * self.global_batch,
                   "epochs": round(self.step / self.steps_per_epoch, 3), "wall_seconds": round(elapsed, 1),
                   "device": str(self.device), "precision": self.precision,
                   "batch_size": self.batch_size, "data": self.config.data.to_dict(),
                   "train": self.config.train.to_dict()}
        if self.world_size > 1:
            summary["world_size"] = self.world_size  # batch_size is per rank
        state = {
            "model": self.model.state_dict(),
            "objective": self.objective.state_dict(),
            "step": self.step,
            "elapsed": elapsed,
            "data_rng": self.data_rng.get_state(),
            "perm": self._perm,
            "torch_rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state()
        path = self.run_dir / CHECKPOINT_NAME

        def write() -> None:
            buffer = io.BytesIO()
            torch.save(state, buffer)
            try:
                # The checkpoint first: if the state write then fails, resume still has the older pair.
                save_checkpoint(self.model, path, training=summary)
                atomic_write_bytes(self.run_dir / STATE_NAME, buffer.getvalue())
            except WaifuError as err:
                raise TrainingError(f"could not save the checkpoint: {err}") from None
            if self.hooks.on_checkpoint:
                self.hooks.on_checkpoint(path, self.step)

        distributed.on_main(write)  # rank 0 writes; a failure there stops every rank
        return path

    def _snapshot(self, prepare: bool = True) -> None:
        """A timeline snapshot of this step: every rank prepares the model alike, rank 0 writes it."""
        if prepare:
            self.objective.before_save(self.data)
        self.snapshots.mark(self.step)

        def write() -> None:
            try:
                self.snapshots.save(self.model, self.step, {"steps": self.step, "total_steps": self.total_steps})
            except WaifuError as err:  # a missed snapshot never stops training
                self._log(f"could not save a timeline snapshot: {err}")

        distributed.on_main(write)

    @property
    def global_batch(self) -> int:
        """Faces per step over all ranks."""
        return self.batch_size * self.world_size

    # ------------------------------------------------------------------ loop
    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _batch(self) -> torch.Tensor:
        position = self.step % self.steps_per_epoch
        if position == 0 and self.step > 0:
            self._perm = torch.randperm(len(self.data), generator=self.data_rng)
        start = (position * self.world_size + self.rank) * self.batch_size
        index = self._perm[start:start + self.batch_size].to(self.device)
        x = self.data.index_select(0, index).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        if self.config.train.hflip:
            flip = torch.rand(x.shape[0], generator=self.data_rng) < 0.5
            x = torch.where(flip.to(self.device)[:, None, None, None], x.flip(3), x)
        if self.config.train.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def sample_grid(self) -> np.ndarray:
        """The fixed-seed faces (seeds 0..sample_count-1) the run is judged by over time."""
        return self.model.sample(self.config.train.sample_count, seed=0)

    def _emit_sample(self) -> None:
        from ..io.export import save_grid

        self._last_sample_step = self.step
        self._last_sample_time = time.perf_counter()
        if not distributed.is_main_process():
            return
        faces = self.sample_grid()
        try:
            save_grid(faces, self.run_dir / SAMPLES_DIR / f"step_{self.step:08d}.png")
        except WaifuError as err:
            self._log(f"could not save sample grid: {err}")
        if self.hooks.on_sample:
            self.hooks.on_sample(self.step, faces)

    def _log(self, message: str) -> None:
        if self.hooks.on_log:
            self.hooks.on_log(message)

    def _write_metrics(self, metrics: StepMetrics) -> None:
        if not distributed.is_main_process():
            return
        try:
            append_jsonl(self.run_dir / METRICS_NAME, metrics.to_json())
        except WaifuError as err:  # as a failed checkpoint save: stop; the last checkpoint stays intact
            raise TrainingError(f"could not log metrics at step {self.step}: {err}. The last checkpoint is "
                                "intact; free some space and resume the run") from None

    def _flush_log(self, speed: float, t_start: float) -> None:
        sums = distributed.mean_over_ranks(self._sums, self.device)  # all ranks agree, so a NaN stops all
        losses = {k: float(v) / self._sum_count for k, v in sums.items()}
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if bad:
            raise NonFiniteLossError(
                f"training stopped at step {self.step}: the {', '.join(bad)} loss became NaN or infinite. "
                f"The last good checkpoint ({CHECKPOINT_NAME}) is kept; try a lower learning rate.")
        remaining = max(0, self.total_steps - self.step)
        metrics = StepMetrics(
            step=self.step, total_steps=self.total_steps, epoch=(self.step - 1) // self.steps_per_epoch,
            epochs=math.ceil(self.total_steps / self.steps_per_epoch), images_seen=self.step * self.global_batch,
            losses=losses, images_per_sec=speed * self.global_batch,
            eta_seconds=remaining / speed if speed > 0 else float("inf"),
            elapsed_seconds=self.elapsed_before + time.perf_counter() - t_start)
        self._sums, self._sum_count = {}, 0
        self._write_metrics(metrics)
        if self.hooks.on_metrics:
            self.hooks.on_metrics(metrics)

    def run(self) -> TrainResult:
        """Train until the planned steps are done or ``hooks.stop`` is set; always leaves a checkpoint.

        The run folder's lock, when this trainer took it, is released on return.
        """
        try:
            return self._run()
        finally:
            self.close()

    def _run(self) -> TrainResult:
        tc = self.config.train
        self._t_start = t_start = time.perf_counter()
        self._log(f"training {self.config.model.family} on {len(self.data)} faces, {self.device} {self.precision}, "
                  f"batch {self.batch_size}, {self.total_steps} steps")
        self.model.train()
        self.objective.train()
        if self.step == 0:
            self._emit_sample()
            self.model.train()
            if self.snapshots.due(0):
                self._snapshot()
        last_save = time.perf_counter()
        speed, window_t, window_steps = 0.0, time.perf_counter(), 0
        stopped = False
        logged = False  # no metrics row yet in this session of the run
        try:
            deadline = t_start + tc.max_minutes * 60 if tc.max_minutes else float("inf")
            while self.step < self.total_steps:
                # Under torchrun every rank stops at the same step when any of them is asked to.
                if distributed.any_rank(self.hooks.stop.is_set() or time.perf_counter() > deadline, self.device):
                    stopped = True
                    break
                if self.hooks.pause.is_set():
                    paused_at = time.perf_counter()
                    while self.hooks.pause.is_set() and not self.hooks.stop.is_set():
                        time.sleep(0.05)
                    window_t += time.perf_counter() - paused_at  # pauses don't count against speed
                    continue
                if tc.lr_decay == "cosine":
                    # Anneal over the planned steps, or by the session's time budget if that ends first.
                    progress = self.step / self.total_steps
                    if tc.max_minutes:
                        progress = max(progress, (time.perf_counter() - t_start) / (tc.max_minutes * 60))
                    self.objective.set_lr_scale(0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))
                losses = self.objective.train_step(self._batch(), self.step, self.autocast)
                self.step += 1
                window_steps += 1
                for k, v in losses.items():
                    self._sums[k] = self._sums.get(k, 0.0) + v.float()
                self._sum_count += 1
                first_log = False
                if self.step % tc.log_every == 0 or self.step == self.total_steps:
                    first_log, logged = not logged, True
                    now = time.perf_counter()
                    current = window_steps / max(now - window_t, 1e-9)
                    speed = current if speed == 0.0 else 0.7 * speed + 0.3 * current
                    window_t, window_steps = now, 0
                    self._flush_log(speed, t_start)
                epoch_end = self.step % self.steps_per_epoch == 0
                # Besides every sample_every steps: at the first log and at epoch ends (at most every
                # SAMPLE_GAP_S), so a short or slow run does not show its step-0 grid until the end.
                due_sample = (self.step % tc.sample_every == 0 or first_log
                              or (epoch_end and time.perf_counter() - self._last_sample_time >= SAMPLE_GAP_S))
                if due_sample and self.step < self.total_steps:  # the last step's grid comes after the final save
                    self._emit_sample()
                    self.model.train()
                if epoch_end and tc.epoch_checkpoint_minutes:
                    # Ranks must agree: a save is a collective under torchrun, and clocks differ.
                    epoch_end = distributed.any_rank(
                        time.perf_counter() - last_save >= tc.epoch_checkpoint_minutes * 60, self.device)
                due = (tc.checkpoint_every and self.step % tc.checkpoint_every == 0) or \
                    distributed.any_rank((time.perf_counter() - last_save) > tc.checkpoint_minutes * 60, self.device)
                if (epoch_end or due) and self.step < self.total_steps:  # the last step saves below
                    self.save()
                    last_save = time.perf_counter()
                if self.step < self.total_steps and distributed.any_rank(self.snapshots.due(self.step), self.device):
                    self._snapshot()
        except torch.OutOfMemoryError:
            raise OutOfMemoryError(f"the {self.device.type} ran out of memory at batch size {self.batch_size}; "
                                   "try a smaller batch size. The last checkpoint is intact.") from None
        if self._sum_count:
            self._flush_log(max(speed, 1e-9), t_start)
        finished = not stopped and self.step >= self.total_steps
        if finished:
            self.model.eval()
            self.objective.finish(self.data)
        path = self.save(final=finished)
        if self.snapshots.enabled and self.snapshots.last_step != self.step:
            self._snapshot(prepare=False)  # the save above prepared the model: the snapshot equals the checkpoint
        # After the save (whose recalibration fixes a GAN's batch-norm statistics): the last grid
        # shows exactly what the checkpoint draws.
        self._emit_sample()
        if self.world_size > 1 and distributed.debug_enabled():
            digest = distributed.parameter_digest([self.model, *self.objective.trained_modules.values()])
            (self.run_dir / f"ddp_rank{self.rank}.sha256").write_text(digest + "\n")
        elapsed = time.perf_counter() - t_start
        self._log(f"{'finished' if finished else 'stopped'} at step {self.step}; checkpoint {path}")
        return TrainResult(run_dir=self.run_dir, checkpoint=path, steps=self.step, stopped=not finished,
                           elapsed_seconds=self.elapsed_before + elapsed)
