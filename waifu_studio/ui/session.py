"""The shared state every panel subscribes to (napari's model/event idea).

Panels never reach into each other: they read and write the :class:`Session` and react to its
signals. Loading a checkpoint happens in a worker; the session only ever holds loaded models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSettings, Signal

from ..core.io.known_checkpoints import bundled_checkpoint_dir
from ..core.models import FaceModel

BUNDLED_NAMES = ("dcgan", "wgan-gp", "ae", "vae")
MAX_RECENT = 10


def bundled_checkpoints() -> list[Path]:
    folder = bundled_checkpoint_dir()
    return [folder / f"{name}.safetensors" for name in BUNDLED_NAMES if (folder / f"{name}.safetensors").exists()]


@dataclass
class Endpoint:
    """One end of a morph: a latent, its face, and where it came from (for labels)."""

    latent: np.ndarray
    face: np.ndarray
    label: str
    seed: int | None = None


@dataclass
class ModelEntry:
    """A model the selector offers. ``model`` is None until loaded."""

    path: Path
    label: str
    kind: str  # "bundled" | "recent" | "training" | "opened"
    model: FaceModel | None = field(default=None, repr=False)


class Session(QObject):
    """Current model, morph endpoints, current face, and app-wide messages."""

    model_changed = Signal(object)  # FaceModel | None
    models_listed = Signal()  # the selector's list changed (recent files, training run)
    endpoints_changed = Signal()
    current_latent_changed = Signal(object)  # np.ndarray: the face the directions panel edits
    status_message = Signal(str)
    error_raised = Signal(str, str)  # title, message: the main window shows a dialog
    training_checkpoint = Signal(object)  # Path of the running training's newest checkpoint

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("WaifuStudio", "WaifuStudio")
        self.model: FaceModel | None = None
        self.model_path: Path | None = None
        self.endpoint_a: Endpoint | None = None
        self.endpoint_b: Endpoint | None = None
        self.current_latent: np.ndarray | None = None
        self.training_checkpoint_path: Path | None = None

    # ----------------------------------------------------------------- model
    def set_model(self, model: FaceModel | None, path: Path | None = None) -> None:
        """Make ``model`` current for every panel. Endpoints from another latent space are dropped."""
        old_dim = self.model.latent_dim if self.model is not None else None
        self.model, self.model_path = model, path
        if model is None or model.latent_dim != old_dim:
            self.endpoint_a = self.endpoint_b = None
            self.current_latent = None
        else:
            # Same latent size: keep the endpoints' latents but redraw their faces with this model.
            for end in (self.endpoint_a, self.endpoint_b):
                if end is not None:
                    end.face = model.decode(end.latent)[0]
        self.model_changed.emit(model)
        self.endpoints_changed.emit()
        if path is not None:
            self.add_recent(path)
            info = getattr(model, "checkpoint_info", None)
            self.status_message.emit(f"Model: {info.describe() if info is not None else path.name}")

    # -------------------------------------------------------------- endpoints
    def set_endpoint(self, which: str, latent: np.ndarray, face: np.ndarray, label: str,
                     seed: int | None = None) -> None:
        end = Endpoint(np.asarray(latent, np.float32).copy(), np.asarray(face, np.uint8).copy(), label, seed)
        if which.upper() == "A":
            self.endpoint_a = end
        elif which.upper() == "B":
            self.endpoint_b = end
        else:
            raise ValueError(f"endpoint must be 'A' or 'B', not {which!r}")
        self.endpoints_changed.emit()
        self.status_message.emit(f"Morph endpoint {which.upper()}: {label}")

    def set_current_latent(self, latent: np.ndarray) -> None:
        self.current_latent = np.asarray(latent, np.float32).copy()
        self.current_latent_changed.emit(self.current_latent)

    # ---------------------------------------------------------------- recent
    def recent_files(self) -> list[Path]:
        value = self.settings.value("recent_checkpoints", [])
        if isinstance(value, str):
            value = [value]
        return [Path(p) for p in (value or []) if p]

    def add_recent(self, path: Path) -> None:
        path = Path(path).resolve()
        if path.parent == bundled_checkpoint_dir().resolve():
            return  # bundled models are always listed
        recent = [p for p in self.recent_files() if p.resolve() != path]
        recent.insert(0, path)
        self.settings.setValue("recent_checkpoints", [str(p) for p in recent[:MAX_RECENT]])
        self.models_listed.emit()

    def report_error(self, title: str, message: str) -> None:
        self.error_raised.emit(title, message)

    def set_training_checkpoint(self, path: Path) -> None:
        self.training_checkpoint_path = Path(path)
        self.training_checkpoint.emit(self.training_checkpoint_path)
        self.models_listed.emit()
