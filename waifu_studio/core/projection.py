"""2-D maps of latent codes (or image features): PCA, t-SNE (openTSNE) and UMAP, cached on disk.

``project`` is the one entry point a GUI worker or the CLI calls: it reports progress (with
intermediate t-SNE layouts so a map can be shown unfolding), honours a cancel event, and keeps
every finished map in ``cache_dir()/projections`` so reopening the same model is instant.
The methods live in their own modules (``pca``, ``tsne``, ``umap_layout``); openTSNE and umap take
seconds to import, so they load only when a map needs them. Helpers for the map view (nearest
points, blend weights, k-means colours) live here; the hair-hue and image-feature helpers are in
``face_features`` and re-exported here. All work on plain numpy arrays.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pathlib
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .data import cache_dir  # one cache root for the whole program ($WAIFU_STUDIO_CACHE)
from .errors import ConfigError, WaifuError
from .export import atomic_write
from .face_features import dominant_hue, image_features
from .pca import check_codes, normalise_layout, pca_2d, pca_reduce, principal_directions

__all__ = ["METHODS", "ProjectionCancelled", "ProjectionParams", "blend_weights", "dominant_hue", "image_features",
           "kmeans_labels", "nearest_points", "normalise_layout", "pca_2d", "principal_directions", "project"]

log = logging.getLogger(__name__)

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



# ----------------------------------------------------------------------------- project


def _cache_path(codes: np.ndarray, params: ProjectionParams, cache_key: str | None) -> pathlib.Path:
    digest = hashlib.sha256(memoryview(codes).cast("B")).hexdigest()
    name = f"{cache_key or ''}|{params.cache_token()}|{codes.shape}|{codes.dtype}|{digest}"
    return cache_dir() / "projections" / f"{hashlib.sha256(name.encode()).hexdigest()}.npy"


def _load_cached(path: pathlib.Path, n: int) -> np.ndarray | None:
    try:
        layout = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:  # truncated or foreign file: recompute and overwrite it
        log.warning("ignoring unreadable projection cache %s: %s", path, err)
        return None
    if layout.shape != (n, 2) or layout.dtype != np.float32 or not np.isfinite(layout).all():
        log.warning("ignoring projection cache %s with unexpected contents", path)
        return None
    return layout


def _store_cached(path: pathlib.Path, layout: np.ndarray) -> None:
    # A cache that cannot be written only costs speed next time; the map itself is fine.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.save(f, layout, allow_pickle=False))
    except (OSError, WaifuError) as err:
        log.warning("could not cache projection in %s: %s", path.parent, err)


def cached_layout(codes: np.ndarray, params: ProjectionParams, cache_key: str | None = None) -> np.ndarray | None:
    """The map ``project`` has cached for these codes, parameters and key, or None (computes nothing)."""
    codes = check_codes(codes)
    return _load_cached(_cache_path(codes, params, cache_key), len(codes))


def is_pca_map(codes: np.ndarray, params: ProjectionParams) -> bool:
    """True when ``project`` answers with the instant PCA map (PCA asked, or too few distinct codes)."""
    return params.method == "pca" or len(codes) < _MIN_NONLINEAR_POINTS or not np.ptp(codes, axis=0).any()


def project(codes: np.ndarray, params: ProjectionParams, *, progress: ProgressFn | None = None,
            cancel: threading.Event | None = None, cache_key: str | None = None,
            use_cache: bool = True) -> np.ndarray:
    """Lay ``codes`` (N, D) out in 2-D: (N, 2) float32, normalised by ``normalise_layout``.

    ``progress(fraction, layout_or_None)`` gets rising fractions ending at 1.0; t-SNE also
    passes normalised intermediate layouts every 25 iterations. Setting ``cancel`` raises
    ``ProjectionCancelled`` (t-SNE stops within 25 iterations; UMAP cannot be interrupted and
    is discarded when it returns). Deterministic for a given ``params.seed``.

    With ``use_cache`` the result is kept in ``cache_dir()/projections`` under a hash of
    ``cache_key`` (e.g. checkpoint and data hashes), the parameters and the codes themselves,
    so a stale map is never returned for changed codes.
    """
    codes = check_codes(codes)
    report = progress or (lambda fraction, layout: None)
    path = _cache_path(codes, params, cache_key) if use_cache else None
    if path is not None:
        cached = _load_cached(path, len(codes))
        if cached is not None:
            report(1.0, cached)
            return cached
    raise_if_cancelled(cancel)
    report(0.0, None)
    layout = normalise_layout(_compute(codes, params, report, cancel))
    raise_if_cancelled(cancel)
    if path is not None:
        _store_cached(path, layout)
    report(1.0, layout)
    return layout


def raise_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ProjectionCancelled("projection cancelled")


def _compute(codes: np.ndarray, params: ProjectionParams, report: ProgressFn,
             cancel: threading.Event | None) -> np.ndarray:
    """Unnormalised layout by ``params.method`` (tiny or all-identical inputs fall back to PCA)."""
    if is_pca_map(codes, params):
        return pca_2d(codes)
    # OpenMP threads spin while waiting by default; when the cores are busy (training, other
    # programs) they fight each other: on a loaded 2-core machine Barnes-Hut iterations were up
    # to 50x and FFT ones 1.4x slower than with passive waiting. libgomp reads this once when it
    # loads (with torch or openTSNE, whichever comes first), so it only helps when nothing loaded
    # OpenMP yet, as in a fresh process; a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from .lazy_import import BackgroundImport

    # torch (for the neighbour search, 1-2 s to import) loads in a helper thread while numpy
    # computes the PCA. umap's import (numba, 2-4 s) starts now too; openTSNE's waits until the
    # neighbour search is done: on 2 cores, importing it alongside torch's threaded search made
    # the search 1.3 s slower and the first t-SNE frame no earlier.
    BackgroundImport("torch")
    if params.method == "tsne":
        from .tsne import tsne_layout

        return tsne_layout(pca_reduce(codes, params.reduced_dims(codes.shape[1])), params, report, cancel)
    from .umap_layout import import_umap, umap_layout

    library = import_umap()
    return umap_layout(pca_reduce(codes, params.reduced_dims(codes.shape[1])), params, cancel, library)


# ----------------------------------------------------------------------------- map helpers


def nearest_points(layout: np.ndarray, xy: tuple[float, float], k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of the ``k`` map points closest to ``xy``, nearest first."""
    layout = np.asarray(layout, dtype=np.float64)
    if layout.ndim != 2 or layout.shape[1] != 2 or len(layout) == 0:
        raise WaifuError(f"a map must be a non-empty (N, 2) array, got shape {layout.shape}")
    distances = np.hypot(layout[:, 0] - xy[0], layout[:, 1] - xy[1])
    k = max(1, min(int(k), len(layout)))
    candidates = np.argpartition(distances, k - 1)[:k]
    order = candidates[np.lexsort((candidates, distances[candidates]))]  # ties: lower index first
    return order, distances[order]


def blend_weights(distances: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Inverse-distance weights summing to 1; a point clicked exactly gets (almost) all the weight."""
    distances = np.asarray(distances, dtype=np.float64)
    if distances.size == 0:
        raise WaifuError("cannot blend zero points")
    if (distances < 0).any() or not np.isfinite(distances).all():
        raise WaifuError("distances must be finite and non-negative")
    weights = 1.0 / (distances + eps)
    return weights / weights.sum()


def kmeans_labels(codes: np.ndarray, k: int = 8, seed: int = 0) -> np.ndarray:
    """Cluster ids (N,) for colouring a map; cluster 0 is the largest, 1 the next, and so on."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.exceptions import ConvergenceWarning

    codes = check_codes(codes)
    k = max(1, min(int(k), len(codes)))
    if len(codes) > 10_000:  # full k-means passes over 20k+ codes are slow for a colouring aid
        model = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=2048, n_init=3)
    else:
        model = KMeans(n_clusters=k, random_state=seed, n_init=3)
    with warnings.catch_warnings():
        # Fewer distinct codes than k (e.g. repeated seeds) only means some clusters stay empty.
        warnings.filterwarnings("ignore", message="Number of distinct clusters", category=ConvergenceWarning)
        raw = model.fit_predict(codes)
    sizes = np.bincount(raw, minlength=k)
    rank = np.empty(k, np.int64)
    rank[np.lexsort((np.arange(k), -sizes))] = np.arange(k)
    return rank[raw]

