"""What a selection of map points gives: its mean latent, a PNG grid and a CSV of its points.

Shared by the map panel (a lasso or box selection) and ``waifu-studio embed --csv`` (every point).
The CSV has one row per point: its index, the file (relative to the folder) or the seed, where it
lies on the map, and its latent, so a spreadsheet or pandas can filter it and feed it back.
"""

from __future__ import annotations

import csv
import io
import os
import pathlib
import re

import numpy as np

from ..io.export import make_grid, save_png
from ..io.files import atomic_write_bytes

MAX_GRID_FACES = 4096  # a 64 x 64 grid of faces: a 4k-pixel PNG; the CSV lists every point


def mean_latent(latents: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The mean of the chosen rows (summed in float64, in chunks: ``latents`` may be memory-mapped)."""
    indices = np.asarray(indices, np.int64)
    total = np.zeros(latents.shape[1], np.float64)
    for start in range(0, len(indices), 65536):
        total += np.asarray(latents[indices[start:start + 65536]], np.float64).sum(0)
    return (total / max(1, len(indices))).astype(np.float32)


def evenly_spread(indices: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` of ``indices``, spread evenly through them (a grid that shows the whole selection)."""
    indices = np.asarray(indices, np.int64)
    if len(indices) <= limit:
        return indices
    return indices[np.linspace(0, len(indices) - 1, limit).astype(np.int64)]


def _seed_of(label: str) -> str:
    match = re.fullmatch(r"seed (\d+)", label)
    return match.group(1) if match else ""


def points_csv(labels: list[str], xy: np.ndarray, latents: np.ndarray, indices: np.ndarray | None = None,
               root: str = "") -> bytes:
    """CSV text (UTF-8) of the chosen points: index, file, seed, x, y, z0..zD-1."""
    indices = np.arange(len(labels)) if indices is None else np.asarray(indices, np.int64)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    dims = latents.shape[1]
    writer.writerow(["index", "file", "seed", "x", "y", *(f"z{d}" for d in range(dims))])
    for start in range(0, len(indices), 8192):
        chunk = indices[start:start + 8192]
        rows_latents = np.asarray(latents[chunk], np.float32)
        for j, i in enumerate(chunk):
            label = labels[i]
            seed = _seed_of(label)
            file = "" if seed else (os.path.join(root, label) if root else label)
            writer.writerow([int(i), file, seed, f"{xy[i, 0]:.6g}", f"{xy[i, 1]:.6g}",
                             *(f"{v:.6g}" for v in rows_latents[j])])
    return out.getvalue().encode("utf-8", "surrogateescape")


def export_selection(path: str | os.PathLike, faces: np.ndarray, labels: list[str], xy: np.ndarray,
                     latents: np.ndarray, indices: np.ndarray, root: str = "") -> tuple[pathlib.Path, pathlib.Path]:
    """``path`` (.png): the selected faces as a grid (evenly spread, at most MAX_GRID_FACES); and
    ``path`` with a .csv suffix: every selected point. Returns both paths."""
    path = pathlib.Path(path)
    indices = np.asarray(indices, np.int64)
    shown = evenly_spread(indices, MAX_GRID_FACES)
    png = save_png(make_grid(np.asarray(faces[shown])), path.with_suffix(".png"))
    table = atomic_write_bytes(path.with_suffix(".csv"), points_csv(labels, xy, latents, indices, root))
    return png, table
