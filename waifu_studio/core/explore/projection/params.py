"""How a map is laid out: the method and its parameters, progress and cancellation types.

Kept apart from ``layout`` so the method modules (``tsne``, ``umap_layout``) and ``layout``
(which dispatches to them) share these names without importing each other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...errors import ConfigError, WaifuError

METHODS = ("pca", "tsne", "umap")
# Bump when a change to the algorithms (here, tsne.py, umap_layout.py) changes the maps, so stale
# cache entries are not reused.
_ALGORITHM_VERSION = 2
# t-SNE/UMAP of a handful of points is meaningless (and the libraries refuse tiny inputs): use PCA.
_MIN_NONLINEAR_POINTS = 10
# Input width for t-SNE and UMAP unless ``pca_dims`` says otherwise. The bundled ae's 384-d codes
# spread their variance (50 PCA dims hold 45%, 100 hold 61%): t-SNE of PCA-50 kept 0.076 of each
# face's 10 nearest codes among its 10 nearest map points, PCA-100 0.091, the raw codes 0.095
# (scikit-learn on raw codes: 0.100), and raw codes made a cold 20k map ~25% slower than PCA-100
# (brute-force neighbours cost N^2 * dims). UMAP stays at 50, the common choice, to fit its budget.
_DEFAULT_PCA_DIMS = {"tsne": 100, "umap": 50}

ProgressFn = Callable[[float, "np.ndarray | None"], None]


class ProjectionCancelled(WaifuError):
    """The user stopped a projection before it finished."""


@dataclass(frozen=True)
class ProjectionParams:
    """How to lay codes out in 2-D.

    t-SNE runs 125 early-exaggeration iterations, then ``tsne_iterations`` normal ones: 500 in all
    where openTSNE and scikit-learn run 750 (250 + 500). On the 20k shared faces the shorter run
    kept as many neighbourhoods (KL divergence 4% higher, still falling slowly; see ``tsne.py``;
    benchmarks/map_bench.py compares the map with scikit-learn's). Codes wider than ``pca_dims`` are first reduced by
    PCA, which makes the brute-force neighbour search cheaper; ``None`` means 100 dimensions for
    t-SNE and 50 for UMAP.
    """

    method: str = "pca"
    perplexity: float = 30.0
    tsne_iterations: int = 375
    n_neighbors: int = 15
    min_dist: float = 0.1
    seed: int = 0
    pca_dims: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown projection method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not self.perplexity > 0:
            raise ConfigError(f"perplexity must be positive, not {self.perplexity}")
        if self.tsne_iterations < 1:
            raise ConfigError(f"t-SNE needs at least 1 iteration, not {self.tsne_iterations}")
        if self.n_neighbors < 2:
            raise ConfigError(f"UMAP needs at least 2 neighbours, not {self.n_neighbors}")
        if not 0.0 <= self.min_dist <= 1.0:
            raise ConfigError(f"UMAP min_dist must be between 0 and 1, not {self.min_dist}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, not {self.seed}")
        if self.pca_dims is not None and self.pca_dims < 2:
            raise ConfigError(f"pca_dims must be at least 2, not {self.pca_dims}")

    def reduced_dims(self, dims: int) -> int:
        """How many dimensions codes of width ``dims`` keep before t-SNE or UMAP."""
        return min(dims, self.pca_dims or _DEFAULT_PCA_DIMS.get(self.method, 50))

    def cache_token(self) -> str:
        """Text naming everything that changes the result; only the fields the method uses."""
        token = f"{self.method}-v{_ALGORITHM_VERSION}"
        if self.method == "tsne":
            token += f"-p{self.perplexity:g}-it{self.tsne_iterations}-d{self.pca_dims or 'auto'}-s{self.seed}"
        elif self.method == "umap":
            token += f"-n{self.n_neighbors}-md{self.min_dist:g}-d{self.pca_dims or 'auto'}-s{self.seed}"
        return token


def raise_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ProjectionCancelled("projection cancelled")
