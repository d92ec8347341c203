"""The shared state every panel subscribes to (napari's model/event idea).

Panels never reach into each other: they read and write the :class:`Session`'s state models and
react to their events. Loading a checkpoint happens in a worker; the session only ever holds
loaded models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSettings, Signal

from ..core.io.known_checkpoints import bundled_checkpoint_dir
from ..core.models import FaceModel
from ..state.current_face import CurrentFace
from ..state.generator import GeneratorSettings
from ..state.model import CurrentModel, ModelIdentity
from ..state.morph import Endpoint, EndpointSource, MorphState

BUNDLED_NAMES = ("dcgan", "wgan-gp", "ae", "vae")
MAX_RECENT = 10


def bundled_checkpoints() -> list[Path]:
    folder = bundled_checkpoint_dir()
    return [folder / f"{name}.safetensors" for name in BUNDLED_NAMES if (folder / f"{name}.safetensors").exists()]


def recent_labels(paths: list[Path]) -> list[str]:
    """Menu labels for recent files: the name, and its folder ("checkpoint.safetensors \u2014 runs/dcgan-1")
    so that files named alike (every run's checkpoint) can be told apart."""
    labels = []
    for path in paths:
        folder = "/".join(path.parent.parts[-2:])
        labels.append(f"{path.name} \u2014 {folder}" if folder else path.name)
    return labels


@dataclass
class ModelEntry:
    """A model the selector offers. ``model`` is None until loaded."""

    path: Path
    label: str
    kind: str  # "bundled" | "recent" | "training" | "opened"
    model: FaceModel | None = field(default=None, repr=False)


class Session(QObject):
    """The explorer's state models (``waifu_studio.state``), recent files, and app-wide messages.

    The state lives in small Qt-free models: :attr:`current_model`, :attr:`generator`,
    :attr:`morph`, :attr:`current_face`. The Qt signals below forward their events for panels
    that connect with Qt; the properties read the models.
    """

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
        self.current_model = CurrentModel()
        self.generator = GeneratorSettings()
        self.morph = MorphState()
        self.current_face = CurrentFace()
        self.training_checkpoint_path: Path | None = None
        self.current_model.changed.connect(self.model_changed.emit)
        self.morph.changed.connect(lambda _which: self.endpoints_changed.emit())
        self.current_face.changed.connect(lambda: self.current_latent_changed.emit(self.current_face.latent))

    # ----------------------------------------------------------------- model
    @property
    def model(self) -> FaceModel | None:
        return self.current_model.model

    @property
    def model_path(self) -> Path | None:
        identity = self.current_model.identity
        return identity.path if identity is not None else None

    @property
    def model_key(self) -> str | None:
        return self.current_model.key

    def set_model(self, model: FaceModel | None, path: Path | None = None,
                  identity: ModelIdentity | None = None) -> None:
        """Make ``model`` current for every panel. ``identity`` (hashed off the GUI thread) names its weights.

        Endpoints stay as they are: the Morph tab makes them again for this model or marks them
        as coming from another (see :mod:`waifu_studio.state.morph`).
        """
        if model is not None and identity is None:
            identity = ModelIdentity.of(model, path)
        self.current_model.set(model, identity)
        if path is not None and model is not None:
            self.add_recent(path)
            info = getattr(model, "checkpoint_info", None)
            self.status_message.emit(f"Model: {info.describe() if info is not None else Path(path).name}")

    # -------------------------------------------------------------- endpoints
    @property
    def endpoint_a(self) -> Endpoint | None:
        return self.morph.get("A")

    @property
    def endpoint_b(self) -> Endpoint | None:
        return self.morph.get("B")

    def set_endpoint(self, which: str, latent: np.ndarray, face: np.ndarray, label: str,
                     seed: int | None = None, *, kind: str | None = None, path: str | None = None) -> None:
        """Make a face of the current model endpoint ``which``; ``kind`` says where it came from
        (default: "seed" when ``seed`` is given, else "face"; see ``state.morph.SOURCE_KINDS``)."""
        identity = self.current_model.identity
        if identity is None:
            raise ValueError("no model is loaded: an endpoint needs the model its latent belongs to")
        kind = kind or ("seed" if seed is not None else "face")
        source = EndpointSource(kind, label, None if seed is None else int(seed), path)
        end = Endpoint(source, identity.key, identity.name, np.asarray(latent, np.float32).copy(),
                       np.asarray(face, np.uint8).copy())
        self.morph.set(which, end)
        self.status_message.emit(f"Morph endpoint {which.upper()}: {label}")

    # ------------------------------------------------------------ current face
    @property
    def current_latent(self) -> np.ndarray | None:
        """The current face's latent, if it belongs to the current model."""
        return self.current_face.latent_for(self.model_key)

    def set_current_latent(self, latent: np.ndarray, label: str = "") -> None:
        self.current_face.set(latent, self.model_key, label)

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
