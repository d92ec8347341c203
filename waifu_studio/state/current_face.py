"""The face the Directions tab edits: a latent and the model it belongs to."""

from __future__ import annotations

import numpy as np
from psygnal import Signal


class CurrentFace:
    """``changed`` fires when another face becomes current (from Generate, the map, ...)."""

    changed = Signal()

    def __init__(self) -> None:
        self.latent: np.ndarray | None = None
        self.model_key: str | None = None
        self.label = ""

    def set(self, latent: np.ndarray, model_key: str | None, label: str = "") -> None:
        self.latent = np.asarray(latent, np.float32).copy()
        self.model_key, self.label = model_key, label
        self.changed.emit()

    def latent_for(self, model_key: str | None) -> np.ndarray | None:
        """The latent if it belongs to ``model_key``: a latent is never decoded by another model."""
        return self.latent if self.latent is not None and self.model_key == model_key else None
