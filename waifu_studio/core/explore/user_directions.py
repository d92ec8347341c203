"""Directions the user made (the difference of two selections' mean latents), saved per model.

They live in the user-data folder (``$WAIFU_STUDIO_DATA``, else ``~/.local/share/waifu-studio``:
not a cache, which may be wiped), under the model's checkpoint SHA-256, so they belong to exactly
the weights they were made with: ``models/<sha256>/directions.json``. The Directions panel lists
them as sliders with :func:`saved_directions`.
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from dataclasses import dataclass

import numpy as np

from ..errors import WaifuError
from ..io.files import atomic_write_bytes
from ..models import FaceModel
from .codes import model_identity

FORMAT_VERSION = 1


def user_data_dir() -> pathlib.Path:
    """Root of what the user made and keeps (directions): ``$WAIFU_STUDIO_DATA`` or ~/.local/share."""
    configured = os.environ.get("WAIFU_STUDIO_DATA")
    return pathlib.Path(configured) if configured else pathlib.Path.home() / ".local" / "share" / "waifu-studio"


@dataclass(frozen=True)
class SavedDirection:
    """A named latent direction: ``vector`` is mean(plus) - mean(minus); a slider step is one ``scale``."""

    name: str
    vector: np.ndarray  # (D,) float32
    plus_count: int = 0
    minus_count: int = 0
    created: str = ""

    @property
    def scale(self) -> float:
        """The vector's length: +1 on the slider moves a face from the 'minus' mean to the 'plus' mean."""
        return float(np.linalg.norm(self.vector))


def _file(model_id: str) -> pathlib.Path:
    return user_data_dir() / "models" / model_id / "directions.json"


def _read(model_id: str) -> list[dict]:
    path = _file(model_id)
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise WaifuError(f"cannot read saved directions {path}: {err}") from None
    rows = data.get("directions") if isinstance(data, dict) else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def saved_directions(model: FaceModel) -> list[SavedDirection]:
    """The directions saved for this model's weights, oldest first (wrong-sized ones are skipped)."""
    found = []
    for row in _read(model_identity(model)):
        try:
            vector = np.asarray(row["vector"], np.float32)
            direction = SavedDirection(str(row["name"]), vector, int(row.get("plus", 0)), int(row.get("minus", 0)),
                                       str(row.get("created", "")))
        except (KeyError, TypeError, ValueError):
            continue
        if vector.shape == (model.latent_dim,) and np.isfinite(vector).all():
            found.append(direction)
    return found


def save_direction(model: FaceModel, name: str, plus_mean: np.ndarray, minus_mean: np.ndarray,
                   plus_count: int = 0, minus_count: int = 0) -> SavedDirection:
    """Save ``plus_mean - minus_mean`` as direction ``name`` of this model (a same-named one is replaced)."""
    name = name.strip()
    if not name:
        raise WaifuError("give the direction a name")
    vector = (np.asarray(plus_mean, np.float64) - np.asarray(minus_mean, np.float64)).astype(np.float32)
    if vector.shape != (model.latent_dim,):
        raise WaifuError(f"a direction of this model has {model.latent_dim} values, not {vector.shape}")
    if not np.linalg.norm(vector) > 0:
        raise WaifuError("the two selections have the same mean face: choose two different groups")
    model_id = model_identity(model)
    rows = [r for r in _read(model_id) if r.get("name") != name]
    created = time.strftime("%Y-%m-%dT%H:%M:%S")
    rows.append({"name": name, "vector": [float(v) for v in vector], "plus": int(plus_count),
                 "minus": int(minus_count), "created": created})
    path = _file(model_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WaifuError(f"cannot create {path.parent}: {err.strerror or err}") from None
    info = getattr(model, "checkpoint_info", None)
    body = {"format": FORMAT_VERSION, "model_sha256": model_id,
            "checkpoint": str(info.path) if info is not None else "", "directions": rows}
    atomic_write_bytes(path, json.dumps(body, indent=1).encode("utf-8"))
    return SavedDirection(name, vector, int(plus_count), int(minus_count), created)
