"""A run folder: the names of its files and how to read them (no training needed).

A run folder holds ``config.json`` (the :class:`RunConfig`), ``metrics.jsonl`` (one JSON object
per logged step), ``samples/step_XXXXXXXX.png`` (fixed seeds), ``checkpoint.safetensors`` (the
model, openable by the app) and ``train_state.pt`` (optimizers, step, RNG: what resuming needs).
"""

from __future__ import annotations

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
from ..io.files import read_jsonl, read_new_jsonl_rows

CHECKPOINT_NAME = "checkpoint.safetensors"
STATE_NAME = "train_state.pt"
CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
SAMPLES_DIR = "samples"


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """All logged steps of a run. A torn last line (a killed writer) is skipped, not an error."""
    return read_jsonl(Path(run_dir) / METRICS_NAME)


def read_run_config(run_dir: str | os.PathLike) -> RunConfig:
    """A run folder's stored settings; a one-line error for a missing, damaged or invalid config.json."""
    path = Path(run_dir) / CONFIG_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
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
    from PIL import Image

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
            with Image.open(root / SAMPLES_DIR / names[-1]) as im:
                update.sample = np.asarray(im.convert("RGB"))
            update.sample_step = int(names[-1][5:-4])
            new.sample_name = names[-1]
        except (OSError, ValueError):
            pass  # half-written: the next poll gets it
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


def load_sample_grids(run_dir: str | os.PathLike, max_frames: int = 200) -> np.ndarray:
    """The run's sample grids in step order, (K, H, W, 3), evenly thinned to ``max_frames`` (last kept)."""
    from PIL import Image

    paths = sorted((Path(run_dir) / SAMPLES_DIR).glob("step_*.png"))
    if not paths:
        raise WaifuError(f"no sample grids in {Path(run_dir) / SAMPLES_DIR} yet")
    if len(paths) > max_frames:
        keep = np.unique(np.linspace(0, len(paths) - 1, max_frames).round().astype(int))
        paths = [paths[i] for i in keep]
    frames = []
    for path in paths:
        with Image.open(path) as im:
            frames.append(np.asarray(im.convert("RGB")))
    shape = frames[-1].shape
    return np.stack([f for f in frames if f.shape == shape])  # a resized run would break the stack


def write_timelapse(run_dir: str | os.PathLike, path: str | os.PathLike, duration_ms: int = 150,
                    max_frames: int = 200) -> Path:
    """All sample grids of a run (thinned to ``max_frames``) as an animated GIF."""
    return save_gif(load_sample_grids(run_dir, max_frames), Path(path), duration_ms=duration_ms, pingpong=False)
