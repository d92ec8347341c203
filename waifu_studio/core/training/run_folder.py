"""A run folder: the names of its files and how to read them (no training needed).

A run folder holds ``config.json`` (the :class:`RunConfig`), ``metrics.jsonl`` (one JSON object
per logged step), ``samples/step_XXXXXXXX.png`` (fixed seeds), ``checkpoint.safetensors`` (the
model, openable by the app) and ``train_state.pt`` (optimizers, step, RNG: what resuming needs).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunConfig
from ..errors import ConfigError, TrainingError, WaifuError
from ..io.checkpoint import read_info
from ..io.export import save_gif
from ..io.files import (
    atomic_write_bytes,
    open_regular,
    read_jsonl,
    read_new_jsonl_rows,
    read_regular_bytes,
    remove_stale_temp_files,
)
from .resume import recorded_config

CHECKPOINT_NAME = "checkpoint.safetensors"
STATE_NAME = "train_state.pt"
CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
SAMPLES_DIR = "samples"


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """All logged steps of a run. A torn last line (a killed writer) is skipped, not an error."""
    return read_jsonl(Path(run_dir) / METRICS_NAME)


MAX_CONFIG_BYTES = 1024 * 1024  # a config.json is about 2 KB; a bigger one was not written by a trainer


def read_run_config(run_dir: str | os.PathLike) -> RunConfig:
    """A run folder's stored settings; a one-line error for a missing, damaged or invalid config.json.

    Read only as a regular file of at most :data:`MAX_CONFIG_BYTES` (a FIFO there never blocks).
    """
    path = Path(run_dir) / CONFIG_NAME
    try:
        data = json.loads(read_regular_bytes(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        raise TrainingError(f"{run_dir} is not a run folder (no {CONFIG_NAME})") from None
    except OSError as err:
        raise TrainingError(f"cannot read {path}: {err.strerror or err}") from None
    except RecursionError:
        raise TrainingError(f"{path} is damaged: nested too deeply") from None
    except ValueError as err:  # not JSON, not UTF-8, or a number past Python's digit limit
        raise TrainingError(f"{path} is damaged: {err}") from None
    try:
        return RunConfig.from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{CONFIG_NAME}: {err}") from None


def start_run_folder(run_dir: Path, config: RunConfig) -> None:
    """Create a new run's folder and write its ``config.json`` (refused where a run already is)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / SAMPLES_DIR).mkdir(exist_ok=True)
    except OSError as err:
        raise TrainingError(f"cannot create run folder {run_dir}: {err.strerror or err}") from None
    if (run_dir / STATE_NAME).exists():
        raise TrainingError(f"{run_dir} already holds a run; use --resume {run_dir} to continue it, "
                            "or choose another --out folder")
    try:
        atomic_write_bytes(run_dir / CONFIG_NAME, json.dumps(config.to_dict(), indent=2).encode())
    except WaifuError as err:
        raise TrainingError(str(err)) from None
    (run_dir / METRICS_NAME).unlink(missing_ok=True)


def prepare_resumed_folder(run_dir: Path, step: int, config: RunConfig) -> None:
    """Ready a run folder to continue from ``step``: drop stale temp files and metric rows logged
    after that checkpoint, and record what this session changed."""
    remove_stale_temp_files(run_dir, (CHECKPOINT_NAME, STATE_NAME, METRICS_NAME, CONFIG_NAME))
    _truncate_metrics(run_dir, step)
    _record_plan(run_dir, config)


def _truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop logged rows past ``step`` (written after the last checkpoint) and torn lines.

    A row without a whole-number step was not written by a trainer: resuming stops rather than
    rewrite (and so lose) a file someone edited.
    """
    rows = read_metrics(run_dir)
    for number, row in enumerate(rows, 1):
        value = row.get("step")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise TrainingError(f"cannot resume {run_dir}: {METRICS_NAME} row {number} has no valid step "
                                f"({repr(value)[:40]}); fix or remove that row")
    text = "".join(json.dumps(r) + "\n" for r in rows if r["step"] <= step).encode()
    atomic_write_bytes(run_dir / METRICS_NAME, text)


def _record_plan(run_dir: Path, config: RunConfig) -> None:
    """Keep what a resumed session changed (--epochs, --lr...) in config.json for later resumes.

    Per-session settings (device, time budget) stay as first written; see ``resume.py``.
    """
    try:
        stored = read_run_config(run_dir)
    except WaifuError:
        return
    updated = recorded_config(stored, config)
    if updated == stored:
        return
    with contextlib.suppress(WaifuError):  # a read-only folder fails later, at the first save
        atomic_write_bytes(run_dir / CONFIG_NAME, json.dumps(updated.to_dict(), indent=2).encode())


# ----------------------------------------------------------------------------- following a run
@dataclass
class RunFolderState:
    """What a watcher already has of a run folder, so each poll reads only what is new."""

    metrics_offset: int = 0
    sample_name: str = ""
    checkpoint_mtime_ns: int = 0


@dataclass
class RunFolderUpdate:
    run_dir: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    sample: np.ndarray | None = None  # the newest sample grid, if it changed
    sample_step: int = -1
    checkpoint: Path | None = None  # set when the checkpoint file changed
    state: RunFolderState = field(default_factory=RunFolderState)
    restarted: bool = False  # metrics.jsonl shrank (the run was resumed): rows are a full re-read


def poll_run_folder(run_dir: str | os.PathLike, state: RunFolderState) -> RunFolderUpdate:
    """New metric rows, the newest sample grid and a changed checkpoint of ``run_dir`` (no Qt)."""
    root = Path(run_dir)
    new = RunFolderState(state.metrics_offset, state.sample_name, state.checkpoint_mtime_ns)
    update = RunFolderUpdate(root, state=new)
    update.rows, new.metrics_offset, update.restarted = read_new_jsonl_rows(root / METRICS_NAME, state.metrics_offset)
    try:
        names = sorted(e.name for e in os.scandir(root / SAMPLES_DIR) if e.name.startswith("step_")
                       and e.name.endswith(".png"))
    except FileNotFoundError:
        names = []
    if names and names[-1] != state.sample_name:
        try:
            update.sample = read_sample_grid(root / SAMPLES_DIR / names[-1])
            update.sample_step = int(names[-1][5:-4])
            new.sample_name = names[-1]
        except (OSError, ValueError):
            pass  # half-written (the next poll gets it), or not a grid a trainer wrote
    try:
        mtime = (root / CHECKPOINT_NAME).stat().st_mtime_ns
    except FileNotFoundError:
        mtime = 0
    if mtime and mtime != state.checkpoint_mtime_ns:
        update.checkpoint = root / CHECKPOINT_NAME
        new.checkpoint_mtime_ns = mtime
    return update


@dataclass(frozen=True)
class ResumeInfo:
    """What the form shows about a run before it is resumed."""

    run_dir: Path
    config: RunConfig
    steps: int | None  # steps in the last checkpoint (None: no readable checkpoint)
    epochs_done: float | None


def read_resume_info(run_dir: str | os.PathLike) -> ResumeInfo:
    """A run folder's stored settings and how far its last checkpoint got (cheap: no weights read)."""
    root = Path(run_dir)
    config = read_run_config(root)
    try:
        training = read_info(root / CHECKPOINT_NAME).training
        steps, epochs = int(training["steps"]), float(training["epochs"])
    except (WaifuError, KeyError, TypeError, ValueError):
        steps = epochs = None  # resuming reports what is missing
    return ResumeInfo(root, config, steps, epochs)


MAX_GRID_SIDE = 8192  # a trainer's grid of 64 faces at 64 px is 530 px wide


def read_sample_grid(path: Path) -> np.ndarray:
    """One sample grid PNG as (H, W, 3) uint8; ``OSError``/``ValueError`` for anything else.

    Opened only as a regular file (a FIFO there must not stall a poll) and refused when larger
    than a grid can be, before its pixels are decoded.
    """
    from PIL import Image

    with open_regular(path) as fh:
        try:
            with Image.open(fh, formats=["PNG"]) as im:
                if max(im.size) > MAX_GRID_SIDE:
                    raise ValueError(f"{path.name} is {im.size[0]}x{im.size[1]} pixels, not a sample grid")
                return np.asarray(im.convert("RGB"))
        except (Image.DecompressionBombError, SyntaxError, EOFError) as err:
            raise ValueError(f"{path.name} is not a sample grid: {err}") from None


def load_sample_grids(run_dir: str | os.PathLike, max_frames: int = 200) -> np.ndarray:
    """The run's sample grids in step order, (K, H, W, 3), evenly thinned to ``max_frames`` (last kept)."""
    paths = sorted((Path(run_dir) / SAMPLES_DIR).glob("step_*.png"))
    if not paths:
        raise WaifuError(f"no sample grids in {Path(run_dir) / SAMPLES_DIR} yet")
    if len(paths) > max_frames:
        keep = np.unique(np.linspace(0, len(paths) - 1, max_frames).round().astype(int))
        paths = [paths[i] for i in keep]
    frames = []
    for path in paths:
        try:
            frames.append(read_sample_grid(path))
        except (OSError, ValueError):
            continue  # a damaged or foreign file among the grids: the timelapse goes on without it
    if not frames:
        raise WaifuError(f"no readable sample grids in {Path(run_dir) / SAMPLES_DIR}")
    shape = frames[-1].shape
    return np.stack([f for f in frames if f.shape == shape])  # a resized run would break the stack


def write_timelapse(run_dir: str | os.PathLike, path: str | os.PathLike, duration_ms: int = 150,
                    max_frames: int = 200) -> Path:
    """All sample grids of a run (thinned to ``max_frames``) as an animated GIF."""
    return save_gif(load_sample_grids(run_dir, max_frames), Path(path), duration_ms=duration_ms, pingpong=False)
