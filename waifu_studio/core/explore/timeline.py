"""A run's training timeline: re-render the same faces from each snapshot, with the losses so far.

Works on any run folder with ``snapshots/`` (see ``core/training/snapshots.py``): one that is
still training (the list is simply read again) or one copied or mounted from a server. Every
frame is decoded from the snapshot's weights, not read from the saved sample PNGs, so any seed,
face or morph can be followed through training.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import WaifuError
from ..io.checkpoint import load_checkpoint
from ..io.recipe import checkpoint_ref
from ..models import FaceModel
from ..training.run_folder import read_metrics
from ..training.snapshots import Snapshot, list_snapshots
from .latent import morph_latents
from .reproduce import gif_recipe, layout_part, seeds_part, write_recipe_file

# Columns of metrics.jsonl that are bookkeeping, not losses.
_NOT_LOSSES = {"step", "total_steps", "epoch", "epochs", "images_seen", "images_per_sec", "eta_s", "time_s"}


@dataclass(frozen=True)
class TimelineView:
    """What each snapshot is asked to draw: a fixed-seed grid, one face, a seed-to-seed morph."""

    seeds: tuple[int, ...] = tuple(range(16))
    face_seed: int = 0
    morph_seeds: tuple[int, int] = (0, 1)
    morph_frames: int = 7


@dataclass
class TimelineFrame:
    step: int
    grid: np.ndarray  # (len(seeds), H, W, 3)
    face: np.ndarray  # (H, W, 3)
    morph: np.ndarray  # (morph_frames, H, W, 3)
    losses: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # name -> (steps, values)
    model: Any = None


def read_timeline(run_dir: str | os.PathLike) -> tuple[list[Snapshot], list[dict[str, Any]]]:
    """The run's snapshots and logged metric rows, as they are on disk now."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise WaifuError(f"run folder not found: {run_dir}")
    return list_snapshots(run_dir), read_metrics(run_dir)


def loss_curves(rows: Sequence[dict[str, Any]], until_step: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each loss logged up to ``until_step`` as (steps, values)."""
    kept = [r for r in rows if int(r.get("step", 0)) <= until_step]
    names = sorted({k for r in kept for k, v in r.items() if k not in _NOT_LOSSES and isinstance(v, int | float)})
    curves = {}
    for name in names:
        points = [(int(r["step"]), float(r[name])) for r in kept if isinstance(r.get(name), int | float)]
        curves[name] = (np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    return curves


class SnapshotModels:
    """The few most recently used snapshot models, loaded once each (scrubbing goes back and forth)."""

    def __init__(self, capacity: int = 6) -> None:
        self.capacity = capacity
        self._models: OrderedDict[Path, FaceModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path) -> FaceModel:
        with self._lock:
            if path in self._models:
                self._models.move_to_end(path)
                return self._models[path]
        model = load_checkpoint(path)
        with self._lock:
            self._models[path] = model
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
        return model


def render_frame(model: FaceModel, step: int, view: TimelineView, rows: Sequence[dict[str, Any]] = ()) -> TimelineFrame:
    """What one snapshot draws for ``view`` (display decode), with the losses up to its step."""
    grid = model.decode(model.seeds_to_latents(view.seeds))
    face = model.decode(model.seeds_to_latents([view.face_seed]))[0]
    a, b = model.seeds_to_latents(list(view.morph_seeds))
    morph = model.decode(morph_latents(a, b, view.morph_frames, spherical=True, center=model.latent_mean))
    return TimelineFrame(step, grid, face, morph, loss_curves(rows, step), model)


def timeline_recipe(snapshots: Sequence[Snapshot], view: TimelineView, ncols: int, duration_ms: int = 250) -> dict:
    """The recipe of a timeline GIF: one frame per snapshot, each the fixed-seed grid (hashes every snapshot)."""
    if not snapshots:
        raise WaifuError("this run has no snapshots yet")
    refs = [checkpoint_ref(s.path) for s in snapshots]
    return gif_recipe(refs, seeds_part(view.seeds), duration_ms=duration_ms, pingpong=False,
                      layout=layout_part(ncols), timeline={"steps": [s.step for s in snapshots]})


def export_timeline_gif(snapshots: Sequence[Snapshot], view: TimelineView, ncols: int, path: str | os.PathLike,
                        progress: Callable[[Any], None] | None = None,
                        cancel: threading.Event | None = None) -> Path:
    """Write the timeline of the fixed-seed grid as a GIF with its recipe (``reproduce`` re-renders it)."""
    recipe = timeline_recipe(snapshots, view, ncols)
    models = []
    for i, snapshot in enumerate(snapshots):
        if cancel is not None and cancel.is_set():
            raise WaifuError("export cancelled")
        models.append(load_checkpoint(snapshot.path))
        if progress is not None:
            progress((i + 1, len(snapshots)))
    return write_recipe_file(recipe, models, path)
