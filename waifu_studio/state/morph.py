"""The two morph endpoints: each one knows where it came from and which model it belongs to.

A latent belongs to the model that made it; another model never decodes it, even when the
latent sizes match (the faces would be meaningless). On a model switch, :func:`rebind_action`
says what to do with each endpoint: a seed is decoded again by the new model, an image file is
encoded again (AE/VAE) or inverted again (GANs), and a map point or an edited face, which exist
only in the old model's space, stay marked as coming from the other model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from psygnal import Signal

ENDS = ("A", "B")
# Where an endpoint came from: "seed", "file" (an image file), "map" (a latent-map point),
# "edited" (a face edited in Directions), "face" (a face dragged from another panel).
SOURCE_KINDS = ("seed", "file", "map", "edited", "face")
REBIND_ACTIONS = ("keep", "decode_seed", "encode_file", "invert_file", "foreign")


@dataclass(frozen=True)
class EndpointSource:
    """Where an endpoint came from, enough to make it again with another model (seeds, files)."""

    kind: str
    label: str
    seed: int | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"endpoint source must be one of {SOURCE_KINDS}, not {self.kind!r}")

    @classmethod
    def from_seed(cls, seed: int) -> EndpointSource:
        return cls("seed", f"seed {int(seed)}", seed=int(seed))

    @classmethod
    def from_file(cls, path: str, label: str | None = None) -> EndpointSource:
        from pathlib import Path

        return cls("file", label or Path(path).name, path=str(path))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("kind", self.kind), ("label", self.label), ("seed", self.seed),
                                  ("path", self.path)) if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndpointSource:
        seed = data.get("seed")
        return cls(str(data["kind"]), str(data.get("label", "")), None if seed is None else int(seed),
                   data.get("path"))

    @property
    def remakeable(self) -> bool:
        """True when another model can make this endpoint again (a seed or an image file)."""
        return self.kind in ("seed", "file")


@dataclass(frozen=True)
class Endpoint:
    """One end of a morph: its source, the model its latent belongs to, the latent and its face."""

    source: EndpointSource
    model_key: str
    model_name: str
    latent: np.ndarray
    face: np.ndarray

    @property
    def label(self) -> str:
        return self.source.label

    @property
    def seed(self) -> int | None:
        return self.source.seed


def rebind_action(endpoint: Endpoint, model_key: str, has_encoder: bool) -> str:
    """What a model switch to ``model_key`` means for ``endpoint`` (one of :data:`REBIND_ACTIONS`)."""
    if endpoint.model_key == model_key:
        return "keep"
    if endpoint.source.kind == "seed":
        return "decode_seed"
    if endpoint.source.kind == "file":
        return "encode_file" if has_encoder else "invert_file"
    return "foreign"


class MorphState:
    """Endpoints A and B; ``changed(which)`` fires when one of them changed."""

    changed = Signal(str)

    def __init__(self) -> None:
        self._ends: dict[str, Endpoint | None] = dict.fromkeys(ENDS)

    def get(self, which: str) -> Endpoint | None:
        return self._ends[_check(which)]

    def set(self, which: str, endpoint: Endpoint | None) -> None:
        which = _check(which)
        self._ends[which] = endpoint
        self.changed.emit(which)

    def swap(self) -> None:
        self._ends["A"], self._ends["B"] = self._ends["B"], self._ends["A"]
        for which in ENDS:
            self.changed.emit(which)

    def pair_for(self, model_key: str | None) -> tuple[Endpoint, Endpoint] | None:
        """(A, B) when both belong to ``model_key``, else None: only then may that model morph them."""
        a, b = self._ends["A"], self._ends["B"]
        if a is None or b is None or model_key is None or a.model_key != model_key or b.model_key != model_key:
            return None
        return a, b

    def sources(self) -> dict[str, dict[str, Any]]:
        """The endpoints' sources (for saving the session); only those another start can make again."""
        return {w: e.source.to_dict() for w, e in self._ends.items() if e is not None and e.source.remakeable}


def _check(which: str) -> str:
    which = which.upper()
    if which not in ENDS:
        raise ValueError(f"endpoint must be 'A' or 'B', not {which!r}")
    return which
