"""The comparison view's state: two models and the one set of seeds, morph and offset they share (no Qt).

Each side's latent for an image morph end is kept in :attr:`CompareState.latents`, keyed by the
model's identity and the image's path and time stamp, so moving the slider or the seeds never
finds it again, and switching back to a model reuses what it found before.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from ..core.explore.compare import CompareView, EndLatents, ImageEndpoint

SIDES = ("A", "B")
ENDS = ("A", "B")  # the morph's two ends, index 0 and 1 of the view's morph_seeds / morph_images

LatentKey = tuple[str, str, int]  # (model key, image path, image mtime in ns)


def model_key(model: Any) -> str:
    """Which weights a latent belongs to: the checkpoint's SHA-256, else this model object."""
    sha256 = getattr(model, "checkpoint_sha256", None)
    return f"sha256:{sha256}" if sha256 else f"memory:{id(model):x}"


class CompareState:
    """Model A and model B (each with the file it came from) and the shared :class:`CompareView`."""

    changed = Signal(str)  # "A", "B" (that side's model changed) or "view"

    def __init__(self) -> None:
        self.models: dict[str, Any] = {side: None for side in SIDES}
        self.paths: dict[str, Path | None] = {side: None for side in SIDES}
        self.view = CompareView()
        self.latents: dict[LatentKey, np.ndarray] = {}

    def set_model(self, side: str, model: Any, path: Path | None = None) -> None:
        if side not in SIDES:
            raise ValueError(f"side must be 'A' or 'B', not {side!r}")
        self.models[side], self.paths[side] = model, Path(path) if path is not None else None
        self.changed.emit(side)

    def set_view(self, **changes: Any) -> None:
        view = dataclasses.replace(self.view, **changes)
        if view != self.view:
            self.view = view
            self.changed.emit("view")

    # ------------------------------------------------------------------ image ends
    def set_image(self, end: str, image: ImageEndpoint | None) -> None:
        """Morph end ``end`` ("A" or "B") becomes ``image``, or its seed again with None."""
        images = list(self.view.morph_images)
        images[ENDS.index(end)] = image
        self.set_view(morph_images=tuple(images))

    @staticmethod
    def latent_key(model: Any, image: ImageEndpoint) -> LatentKey:
        return model_key(model), image.path, image.mtime_ns

    def store_latent(self, model: Any, image: ImageEndpoint, latent: np.ndarray) -> None:
        self.latents[self.latent_key(model, image)] = np.asarray(latent, np.float32).reshape(-1)

    def image_latents(self, side: str) -> EndLatents:
        """``side``'s latents of the image ends (None for a seed end, or one not found yet)."""
        model = self.models[side]
        found = [None if image is None or model is None else self.latents.get(self.latent_key(model, image))
                 for image in self.view.morph_images]
        return found[0], found[1]

    def missing_images(self, side: str) -> list[tuple[str, ImageEndpoint]]:
        """The image ends whose latent ``side``'s model has not found yet."""
        model = self.models[side]
        if model is None:
            return []
        return [(end, image) for end, image in zip(ENDS, self.view.morph_images, strict=True)
                if image is not None and self.latent_key(model, image) not in self.latents]
