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
import pathlib
import threading
import warnings

import numpy as np

from ...errors import WaifuError
from ...io.files import cache_path, load_cached_array, save_cached_array
from .params import (
    _MIN_NONLINEAR_POINTS,
    ProgressFn,
    ProjectionParams,
    raise_if_cancelled,
)
from .pca import check_codes, normalise_layout, pca_2d, pca_reduce

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- project


def _cache_path(codes: np.ndarray, params: ProjectionParams, cache_key: str | None) -> pathlib.Path:
    digest = hashlib.sha256(memoryview(codes).cast("B")).hexdigest()
    name = f"{cache_key or ''}|{params.cache_token()}|{codes.shape}|{codes.dtype}|{digest}"
    return cache_path("projections", hashlib.sha256(name.encode()).hexdigest())


def _load_cached(path: pathlib.Path, n: int) -> np.ndarray | None:
    layout = load_cached_array(path, (n, 2), np.float32)
    if layout is not None and not np.isfinite(layout).all():
        log.warning("ignoring projection cache %s with non-finite points", path)
        return None
    return layout


def _store_cached(path: pathlib.Path, layout: np.ndarray) -> None:
    save_cached_array(path, layout)  # a cache that cannot be written only costs speed next time


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


# t-SNE and UMAP of more points than this lay out an evenly spread sample of this many (t-SNE of
# 50k points takes minutes on 2 cores, and their cost grows faster than N); every other point is
# then placed among its nearest sampled neighbours, so no point is dropped. The screen says so.
SAMPLE_ABOVE = {"tsne": 50_000, "umap": 100_000}
PLACE_NEIGHBOURS = 5
PLACE_DIMS = 16  # neighbours for placement are found on the first 16 principal axes (cheap, exact there)


def sampling_note(n: int, params: ProjectionParams) -> str:
    """What a map of ``n`` points with ``params`` does differently ("" when it lays out every point itself)."""
    cap = SAMPLE_ABOVE.get(params.method)
    if cap is None or n <= cap:
        return ""
    name = {"tsne": "t-SNE", "umap": "UMAP"}[params.method]
    return (f"{name} of {cap:,} evenly spread points; the other {n - cap:,} are placed beside their "
            f"{PLACE_NEIGHBOURS} nearest sampled neighbours.")


def _compute(codes: np.ndarray, params: ProjectionParams, report: ProgressFn,
             cancel: threading.Event | None) -> np.ndarray:
    """Unnormalised layout by ``params.method`` (tiny or all-identical inputs fall back to PCA)."""
    if is_pca_map(codes, params):
        return pca_2d(codes)
    cap = SAMPLE_ABOVE.get(params.method)
    if cap is not None and len(codes) > cap:
        return _sampled(codes, params, cap, report, cancel)
    # Passive OpenMP waiting (much faster on busy cores) is set in the environment of the child
    # process that runs projections for the app (see ``process._child_env``); this function never
    # changes the caller's environment.
    from ...lazy_import import BackgroundImport

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


def _sampled(codes: np.ndarray, params: ProjectionParams, cap: int, report: ProgressFn,
             cancel: threading.Event | None) -> np.ndarray:
    """Lay out ``cap`` evenly spread points, then put each other point at the inverse-distance
    weighted mean position of its nearest sampled points (in PCA space)."""
    import torch

    sample = np.linspace(0, len(codes) - 1, cap).astype(np.int64)
    share = 0.8
    layout_sample = _compute(codes[sample], params, lambda f, frame: report(share * f, None), cancel)
    reduced = pca_reduce(codes, PLACE_DIMS).astype(np.float32)
    rest = np.setdiff1d(np.arange(len(codes)), sample)
    reference = torch.from_numpy(np.ascontiguousarray(reduced[sample]))
    layout = np.empty((len(codes), 2), np.float64)
    layout[sample] = layout_sample
    chunk = max(64, (1 << 25) // cap)  # distance blocks of ~128 MB
    with torch.no_grad():
        for start in range(0, len(rest), chunk):
            raise_if_cancelled(cancel)
            rows = rest[start:start + chunk]
            distances, found = torch.topk(torch.cdist(torch.from_numpy(reduced[rows]), reference),
                                          PLACE_NEIGHBOURS, dim=1, largest=False)
            weights = 1.0 / (distances.double().numpy() + 1e-9)
            weights /= weights.sum(1, keepdims=True)
            layout[rows] = (weights[..., None] * layout_sample[found.numpy()]).sum(1)
            report(share + (1 - share) * min(1.0, (start + chunk) / len(rest)), None)
    return layout


# ----------------------------------------------------------------------------- map helpers


def nearest_points(layout: np.ndarray, xy: tuple[float, float], k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of the ``k`` map points closest to ``xy``, nearest first."""
    layout = np.asarray(layout, dtype=np.float64)
    if layout.ndim != 2 or layout.shape[1] != 2 or len(layout) == 0:
        raise WaifuError(f"a map must be a non-empty (N, 2) array, got shape {layout.shape}")
    distances = np.hypot(layout[:, 0] - xy[0], layout[:, 1] - xy[1])
    k = max(1, min(int(k), len(layout)))
    # Ties go to the lower index, also at the k-th place: argpartition alone picks any of the tied
    # points there, and which one differs between numpy's AVX2 and AVX-512 code paths.
    kth = np.partition(distances, k - 1)[k - 1]
    closer = np.flatnonzero(distances < kth)
    candidates = np.concatenate([closer, np.flatnonzero(distances == kth)[: k - len(closer)]])
    order = candidates[np.lexsort((candidates, distances[candidates]))]
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

