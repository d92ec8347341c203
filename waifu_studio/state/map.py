"""What the latent map shows and what the user picked on it: Qt-free evented models (psygnal).

``MapSettings`` is the form (source, method, its parameters, colouring, selection shape); the
panel's widgets mirror it both ways. ``MapSelection`` is the set of selected points and the two
groups a direction is made from. Tests and the CLI drive these models without a window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psygnal import Signal, evented

from ..core.explore.selection import mean_latent

SOURCES = ("prior", "folder")
COLOURINGS = ("none", "cluster", "hue", "recon", "knn")
SELECT_SHAPES = ("lasso", "box")


@evented
@dataclass
class MapSettings:
    """The map's form; every field emits ``settings.events.<field>`` when it changes."""

    source: str = "prior"  # one of SOURCES
    folder: str = ""
    n: int = 5000  # prior samples
    method: str = "tsne"
    perplexity: float = 30.0
    n_neighbors: int = 15
    min_dist: float = 0.1
    colour: str = "none"  # one of COLOURINGS
    select_shape: str = "lasso"  # what shift-drag draws


@dataclass(frozen=True)
class SelectionGroup:
    """A named group of points: the mean latent of a selection, kept for a direction."""

    indices: np.ndarray
    mean_latent: np.ndarray

    @property
    def count(self) -> int:
        return len(self.indices)


class MapSelection:
    """Selected points (indices into the map's current points) and the two direction groups."""

    changed = Signal(object)  # the new indices (sorted int64)
    groups_changed = Signal()

    def __init__(self) -> None:
        self.indices = np.zeros(0, np.int64)
        self.groups: dict[str, SelectionGroup] = {}  # "plus" / "minus"

    def __len__(self) -> int:
        return len(self.indices)

    def set(self, indices: np.ndarray) -> None:
        self.indices = np.unique(np.asarray(indices, np.int64))
        self.changed.emit(self.indices)

    def clear(self, groups: bool = False) -> None:
        """Nothing selected (and, with ``groups``, no direction groups: the map's points changed)."""
        if groups and self.groups:
            self.groups = {}
            self.groups_changed.emit()
        self.set(np.zeros(0, np.int64))

    def keep_as(self, which: str, latents: np.ndarray) -> SelectionGroup | None:
        """Remember the current selection as direction group ``which`` ('plus' or 'minus')."""
        if which not in ("plus", "minus"):
            raise ValueError(f"a direction group is 'plus' or 'minus', not {which!r}")
        if not len(self.indices):
            return None
        group = SelectionGroup(self.indices.copy(), mean_latent(latents, self.indices))
        self.groups[which] = group
        self.groups_changed.emit()
        return group

