"""What a latent map shows: points (latents + the features they are laid out by) and their faces.

Shared by the CLI's ``embed`` and the GUI's latent map, so both lay out the same points the same
way. AE/VAE maps encode real faces; ``prior`` maps sample the model (any family). GANs have no
encoder, so their samples are laid out by image features while each point keeps its z.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WaifuError


class MapCancelled(WaifuError):
    """Building the map's points was cancelled."""


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise :class:`MapCancelled` once ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise MapCancelled("map cancelled")


@dataclass
class MapSource:
    latents: np.ndarray  # (N, D) float32: decoding row i gives point i's face
    features: np.ndarray  # (N, F) float32: what the 2-D layout is computed from
    faces: np.ndarray  # (N, H, W, 3) uint8 (real faces of data maps, may be memory-mapped; decodes for prior)
    labels: list[str]  # file path (relative to the folder) or "seed N" per point
    cache_key: str  # identifies model + data + source kind for the projection cache
    description: str
    root: str = ""  # the folder of a data map ("" for prior samples and arrays)


def render_map_png(xy: np.ndarray, faces: np.ndarray, path: str | os.PathLike, *, size: int = 2048,
                   thumb: int = 32, max_faces: int = 4000, recipe: dict | None = None) -> Path:
    """The classic t-SNE image map: faces drawn at their map positions (on a grid, no overlap)."""
    from PIL import Image

    from ..io.export import save_png

    canvas = Image.new("RGB", (size, size), (250, 250, 250))
    if len(xy):
        lo, hi = xy.min(0), xy.max(0)
        span = np.maximum(hi - lo, 1e-9)
        cells = size // thumb
        grid = np.clip(((xy - lo) / span * (cells - 1)).round().astype(int), 0, cells - 1)
        taken: set[tuple[int, int]] = set()
        # Spread the drawn subset evenly through the set so dense regions don't hide sparse ones.
        order = np.linspace(0, len(xy) - 1, min(len(xy), max_faces)).astype(int)
        for i in order:
            cell = (int(grid[i, 0]), int(grid[i, 1]))
            if cell in taken:
                continue
            taken.add(cell)
            tile = Image.fromarray(faces[i]).resize((thumb, thumb), Image.Resampling.BOX)
            canvas.paste(tile, (cell[0] * thumb, (cells - 1 - cell[1]) * thumb))
    return save_png(np.asarray(canvas), path, recipe=recipe)
