"""The model being explored, with an identity that says which weights a latent belongs to."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from psygnal import Signal

if TYPE_CHECKING:
    from ..core.models import FaceModel


@dataclass(frozen=True)
class ModelIdentity:
    """Which model a latent or a face came from: the checkpoint's content hash, plus what a label needs."""

    key: str  # "sha256:<hex>" of the checkpoint file, or "memory:<n>" for a model never saved
    family: str
    latent_dim: int
    has_encoder: bool
    path: Path | None = None

    @property
    def name(self) -> str:
        """A short name for labels: the file name, or the family."""
        return self.path.name if self.path is not None else self.family

    @classmethod
    def of(cls, model: FaceModel, path: str | os.PathLike | None = None) -> ModelIdentity:
        """Identify ``model`` by its file's SHA-256: the one ``load_checkpoint`` hashed, else the file is
        read (call it off the GUI thread)."""
        from ..core.io.files import file_sha256

        if path is None:
            key = f"memory:{id(model):x}"
        else:
            key = f"sha256:{getattr(model, 'checkpoint_sha256', None) or file_sha256(path)}"
        return cls(key, model.family, model.latent_dim, bool(model.has_encoder),
                   Path(path) if path is not None else None)


class CurrentModel:
    """The model every panel shows. ``changed`` fires with the new model (or None)."""

    changed = Signal(object)

    def __init__(self) -> None:
        self.model: FaceModel | None = None
        self.identity: ModelIdentity | None = None

    def set(self, model: FaceModel | None, identity: ModelIdentity | None = None) -> None:
        if model is not None and identity is None:
            identity = ModelIdentity.of(model)
        self.model, self.identity = model, identity if model is not None else None
        self.changed.emit(model)

    @property
    def key(self) -> str | None:
        return self.identity.key if self.identity is not None else None
