"""What a latent map shows: points (latents + the features they are laid out by) and their faces.

Shared by the CLI's ``embed`` and the GUI's latent map, so both lay out the same points the same
way. AE/VAE maps encode real faces; ``prior`` maps sample the model (any family). GANs have no
encoder, so their samples are laid out by image features while each point keeps its z.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WaifuError
from ..models import FaceModel


class MapCancelled(WaifuError):
    """Building the map's points was cancelled."""


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise MapCancelled("map cancelled")


@dataclass
class MapSource:
    latents: np.ndarray  # (N, D) float32: decoding row i gives point i's face
    features: np.ndarray  # (N, F) float32: what the 2-D layout is computed from
    faces: np.ndarray  # (N, H, W, 3) uint8 thumbnails (real faces for data maps, decodes for prior)
    labels: list[str]  # file path or "seed N" per point
    cache_key: str  # identifies model + data + source kind for the projection cache
    description: str


def _model_key(model: FaceModel) -> str:
    info = getattr(model, "checkpoint_info", None)
    if info is not None and Path(info.path).exists():
        from ..io.files import file_digest

        return file_digest(info.path)
    # An unsaved model: hash its weights (cheap for our sizes).
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def build_map_source(model: FaceModel, data: str | os.PathLike | np.ndarray, *, n: int = 5000,
                     progress: Callable[[int, int], None] | None = None, batch_size: int = 256,
                     cancel: threading.Event | None = None) -> MapSource:
    """Points for a map: ``data`` is a folder (encoded; ae/vae), an image array, or ``"prior"``.

    ``progress(done, total)`` is called per batch; setting ``cancel`` raises :class:`MapCancelled`.
    """
    if isinstance(data, str) and data == "prior":
        seeds = range(n)
        latents = model.seeds_to_latents(seeds)
        chunks = []
        for i in range(0, n, batch_size):
            _check(cancel)
            chunks.append(model.decode(latents[i:i + batch_size]))
            if progress:
                progress(min(i + batch_size, n), n)
        faces = np.concatenate(chunks) if chunks else np.zeros((0, model.resolution, model.resolution, 3), np.uint8)
        if model.has_encoder:
            features = latents
        else:
            from .face_features import image_features

            features = image_features(faces)
        key = f"{_model_key(model)}:prior:{n}"
        return MapSource(latents, features.astype(np.float32), faces, [f"seed {s}" for s in seeds], key,
                         f"{n} samples from the model's prior")
    if not model.has_encoder:
        raise WaifuError(f"a {model.family} model has no encoder, so it cannot map a folder of faces; "
                         "map samples from its prior instead")
    if isinstance(data, np.ndarray):
        faces, labels = data, [f"face {i}" for i in range(len(data))]
        digest = hashlib.sha256(faces.tobytes()).hexdigest()[:16]
        description = f"{len(faces)} faces"
    else:
        from ..data import load_folder

        dataset = load_folder(data, model.resolution)
        faces, labels = dataset.images, list(dataset.paths)
        digest = hashlib.sha256("\n".join(labels).encode("utf-8", "surrogateescape")).hexdigest()[:16]
        digest += hashlib.sha256(faces[:: max(1, len(faces) // 64)].tobytes()).hexdigest()[:8]
        description = f"{len(faces)} faces of {data}"
    chunks = []
    for i in range(0, len(faces), batch_size):
        _check(cancel)
        chunks.append(model.encode(faces[i:i + batch_size]))
        if progress:
            progress(min(i + batch_size, len(faces)), len(faces))
    latents = np.concatenate(chunks) if chunks else np.zeros((0, model.latent_dim), np.float32)
    return MapSource(latents, latents, faces, labels, f"{_model_key(model)}:data:{digest}", description)


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
