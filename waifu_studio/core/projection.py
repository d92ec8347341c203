"""2-D maps of latent codes (or image features): PCA, t-SNE (openTSNE) and UMAP, cached on disk.

``project`` is the one entry point a GUI worker or the CLI calls: it reports progress (with
intermediate t-SNE layouts so a map can be shown unfolding), honours a cancel event, and keeps
every finished map in ``cache_dir()/projections`` so reopening the same model is instant.
openTSNE and umap pull in numba and take seconds to import, so they are imported only inside the
functions that use them. Helpers for the map view (nearest points, blend weights, k-means colours,
hair hue, GANSpace-style directions) live here too; they all work on plain numpy arrays.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import pathlib
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .data import cache_dir  # one cache root for the whole program ($WAIFU_STUDIO_CACHE)
from .errors import ConfigError, WaifuError
from .export import atomic_write

log = logging.getLogger(__name__)

METHODS = ("pca", "tsne", "umap")
# Bump when a change to the algorithms below changes the maps, so stale cache entries are not reused.
_ALGORITHM_VERSION = 1
# t-SNE/UMAP of a handful of points is meaningless (and the libraries refuse tiny inputs): use PCA.
_MIN_NONLINEAR_POINTS = 10
_TSNE_EARLY_ITERATIONS = 250
_TSNE_CALLBACK_EVERY = 25
_TSNE_AFFINITY_SHARE = 0.15  # share of the progress bar given to the neighbour search
# Brute-force neighbours cost N^2; above this many points the libraries' approximate search wins.
_EXACT_KNN_MAX_POINTS = 50_000

ProgressFn = Callable[[float, "np.ndarray | None"], None]


class ProjectionCancelled(WaifuError):
    """The user stopped a projection before it finished."""


@dataclass(frozen=True)
class ProjectionParams:
    """How to lay codes out in 2-D.

    t-SNE runs ``250`` early-exaggeration iterations, then ``tsne_iterations`` normal ones. The
    default 500 is openTSNE's own; 750 gave the same clusters on 20k codes at ~1.4x the time, and
    the 30 s budget of a 2-core laptop does not cover it. Codes wider than ``pca_dims`` are first
    reduced by PCA, which speeds up the neighbour search of t-SNE and UMAP without changing who is
    near whom.
    """

    method: str = "pca"
    perplexity: float = 30.0
    tsne_iterations: int = 500
    n_neighbors: int = 15
    min_dist: float = 0.1
    seed: int = 0
    pca_dims: int = 50

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
        if self.pca_dims < 2:
            raise ConfigError(f"pca_dims must be at least 2, not {self.pca_dims}")

    def cache_token(self) -> str:
        """Text naming everything that changes the result; only the fields the method uses."""
        token = f"{self.method}-v{_ALGORITHM_VERSION}"
        if self.method == "tsne":
            token += f"-p{self.perplexity:g}-it{self.tsne_iterations}-d{self.pca_dims}-s{self.seed}"
        elif self.method == "umap":
            token += f"-n{self.n_neighbors}-md{self.min_dist:g}-d{self.pca_dims}-s{self.seed}"
        return token


# ----------------------------------------------------------------------------- PCA


def _pca_basis(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (D,), components (k, D) unit rows by falling variance, variances (k,)), deterministic.

    Exact: SVD of the data when there are fewer points than dimensions, else eigendecomposition
    of the D x D covariance; very wide data (raw pixels) goes through seeded randomized SVD.
    Each component's sign is fixed so its largest coordinate is positive: the same data always
    gives the same map, never its mirror image.
    """
    from threadpoolctl import threadpool_limits

    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    mean = x.mean(axis=0)
    k = max(1, min(k, d))
    # These matrices are small; multi-threaded OpenBLAS gains little on them but, when the cores
    # are busy (training in the background), its spinning threads made an 800x800 eigh 80x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        if n < d and n <= 4096:
            _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
            components, variances = vt[:k], singular[:k] ** 2 / max(n - 1, 1)
        elif d <= 4096:
            centred = x - mean
            values, vectors = np.linalg.eigh(centred.T @ centred / max(n - 1, 1))
            order = np.argsort(values)[::-1][:k]
            components, variances = vectors[:, order].T, values[order]
        else:
            from sklearn.decomposition import PCA

            pca = PCA(n_components=min(k, n), svd_solver="randomized", random_state=0).fit(x)
            components, variances = pca.components_, pca.explained_variance_
    if len(components) < k:  # fewer points than requested axes: pad with zero-variance axes
        extra = np.zeros((k - len(components), d))
        components, variances = np.concatenate([components, extra]), np.concatenate([variances, np.zeros(len(extra))])
    rows = np.arange(len(components))
    signs = np.sign(components[rows, np.abs(components).argmax(axis=1)])
    signs[signs == 0] = 1.0
    return mean, components * signs[:, None], np.clip(variances, 0.0, None)


def _pca_reduce(x: np.ndarray, dims: int) -> np.ndarray:
    """Coordinates of ``x`` on its first ``dims`` principal axes (no-op when already narrow)."""
    if x.shape[1] <= dims:
        return np.asarray(x, dtype=np.float64)
    mean, components, _ = _pca_basis(x, dims)
    return (np.asarray(x, dtype=np.float64) - mean) @ components.T


def normalise_layout(layout: np.ndarray) -> np.ndarray:
    """Centre on the bounding box and scale so the longer half-extent is 1 (same scale on both axes).

    Maps from different methods then fill the same [-1, 1] square in a viewer.
    """
    layout = np.asarray(layout, dtype=np.float64)
    if len(layout) == 0:
        return layout.astype(np.float32)
    low, high = layout.min(axis=0), layout.max(axis=0)
    centred = layout - (low + high) / 2.0
    extent = float(np.abs(centred).max())
    return (centred / extent if extent > 0 else centred).astype(np.float32)


def pca_2d(codes: np.ndarray) -> np.ndarray:
    """The instant first map: codes on their two main axes, normalised, (N, 2) float32."""
    codes = _check_codes(codes)
    if len(codes) < 2:
        return np.zeros((len(codes), 2), np.float32)
    mean, components, _ = _pca_basis(codes, 2)
    layout = np.zeros((len(codes), 2))
    layout[:, :len(components)] = (codes - mean) @ components.T
    return normalise_layout(layout)


def principal_directions(codes: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """GANSpace-style slider axes: (k, D) unit directions and (k,) std-devs, largest first."""
    codes = _check_codes(codes)
    _, components, variances = _pca_basis(codes, k)
    return components.astype(np.float32), np.sqrt(variances).astype(np.float32)


# ----------------------------------------------------------------------------- project


def _check_codes(codes: np.ndarray) -> np.ndarray:
    arr = np.asarray(codes)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise WaifuError(f"codes must be a 2-D array (points x dimensions), got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise WaifuError("codes contain NaN or infinite values; the model may have diverged")
    return arr


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
    codes = _check_codes(codes)
    report = progress or (lambda fraction, layout: None)
    path = _cache_path(codes, params, cache_key) if use_cache else None
    if path is not None:
        cached = _load_cached(path, len(codes))
        if cached is not None:
            report(1.0, cached)
            return cached
    _raise_if_cancelled(cancel)
    report(0.0, None)
    layout = normalise_layout(_compute(codes, params, report, cancel))
    _raise_if_cancelled(cancel)
    if path is not None:
        _store_cached(path, layout)
    report(1.0, layout)
    return layout


def _raise_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ProjectionCancelled("projection cancelled")


def _compute(codes: np.ndarray, params: ProjectionParams, report: ProgressFn,
             cancel: threading.Event | None) -> np.ndarray:
    """Unnormalised layout by ``params.method`` (tiny or all-identical inputs fall back to PCA)."""
    if params.method == "pca" or len(codes) < _MIN_NONLINEAR_POINTS or not np.ptp(codes, axis=0).any():
        return pca_2d(codes)
    reduced = _pca_reduce(codes, params.pca_dims)
    if params.method == "tsne":
        return _tsne(reduced, params, report, cancel)
    return _umap(reduced, params)


def _worker_count() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _exact_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of each point's ``k`` nearest points, self first, by brute force.

    One BLAS matrix product per chunk of rows. For the tens of thousands of points a face set
    has this is exact and about as fast as Annoy (20k points, 90 neighbours, 2 busy cores: 3-9 s
    against 8-16 s), and it spares UMAP pynndescent, whose numba code must compile on first use.
    """
    import torch

    points = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    sq_norms = (points * points).sum(1)
    n = len(points)
    chunk = max(64, (1 << 24) // n)  # keep each distance block near 64 MB
    indices, distances = np.empty((n, k), np.int64), np.empty((n, k), np.float32)
    with torch.no_grad():
        for start in range(0, n, chunk):
            rows = torch.arange(start, min(start + chunk, n))
            # |q - p|^2 = |q|^2 + |p|^2 - 2 q.p; |q|^2 is constant along a row, so rank without it
            # (one fused addmm, no extra N-wide temporaries) and add it back for the k winners.
            scores = torch.addmm(sq_norms[None, :], points[rows], points.T, alpha=-2.0)
            # Self goes first even among duplicates; umap expects it in column 0.
            scores[torch.arange(len(rows)), rows] = -torch.inf
            values, found = torch.topk(scores, k, dim=1, largest=False, sorted=True)
            values[:, 0] = -sq_norms[rows]
            indices[start:start + len(rows)] = found.numpy()
            distances[start:start + len(rows)] = (values + sq_norms[rows, None]).clamp_min(0.0).sqrt().numpy()
    return indices, distances


def _import_cancellably(module: str, cancel: threading.Event | None) -> None:
    """Import ``module`` in a helper thread, raising ProjectionCancelled as soon as ``cancel`` is set.

    openTSNE pulls in scikit-learn, which takes 1.5-2 s to import on a busy machine, and an import
    cannot be interrupted: done in the worker, it held up closing the window for that long. The
    helper thread only fills ``sys.modules`` and finishes on its own; the worker returns at once.
    """
    if cancel is None or module in sys.modules:
        importlib.import_module(module)
        return
    failures: list[BaseException] = []

    def load() -> None:
        try:
            importlib.import_module(module)
        except BaseException as err:  # noqa: BLE001 - re-raised in the calling thread below
            failures.append(err)

    loader = threading.Thread(target=load, name=f"import {module}", daemon=True)
    loader.start()
    while True:
        loader.join(0.05)
        _raise_if_cancelled(cancel)
        if not loader.is_alive():
            break
    if failures:
        raise failures[0]


def _tsne(x: np.ndarray, params: ProjectionParams, report: ProgressFn, cancel: threading.Event | None) -> np.ndarray:
    # OpenMP threads spin while waiting by default; when the cores are busy (training, other
    # programs) they fight each other: on a loaded 2-core machine Barnes-Hut iterations were up
    # to 50x and FFT ones 1.4x slower than with passive waiting. libgomp reads this once when it
    # loads, and openTSNE binds to the first libgomp in the process (torch's, if torch came
    # first), so this only helps when nothing loaded OpenMP yet; a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _import_cancellably("openTSNE", cancel)
    from openTSNE import TSNEEmbedding, affinity, initialization
    from openTSNE.nearest_neighbors import PrecomputedNeighbors
    from openTSNE.tsne import OptimizationInterrupt

    n = len(x)
    n_jobs = _worker_count()
    # openTSNE would lower a too-large perplexity itself, but with a log warning; do it quietly.
    perplexity = min(params.perplexity, (n - 1) / 3.0)
    if n <= _EXACT_KNN_MAX_POINTS:
        neighbours, distances = _exact_knn(x, min(n - 1, int(3 * perplexity)) + 1)
        index = PrecomputedNeighbors(neighbours[:, 1:], distances[:, 1:].astype(np.float64))
        affinities = affinity.PerplexityBasedNN(perplexity=perplexity, knn_index=index, n_jobs=n_jobs)
    else:
        affinities = affinity.PerplexityBasedNN(x, perplexity=perplexity, method="annoy", n_jobs=n_jobs,
                                                random_state=params.seed, verbose=False)
    _raise_if_cancelled(cancel)
    # PCA start (scaled to openTSNE's tiny std) so the first frames already look like the data.
    start = initialization.rescale(np.ascontiguousarray(_pca_reduce(x, 2)[:, :2]))
    report(_TSNE_AFFINITY_SHARE, normalise_layout(start))
    total = _TSNE_EARLY_ITERATIONS + params.tsne_iterations
    done_before = 0

    def on_iterations(iteration: int, error: float, embedding: np.ndarray) -> bool:
        fraction = _TSNE_AFFINITY_SHARE + (1 - _TSNE_AFFINITY_SHARE) * (done_before + iteration) / total
        report(min(fraction, 0.999), normalise_layout(embedding))
        return cancel is not None and cancel.is_set()  # True makes openTSNE stop

    # FFT-interpolated gradients scale linearly with N; Barnes-Hut is quicker on small sets
    # (measured crossover ~2-3k points: at 5k FFT was 2x faster, at 2k BH slightly faster).
    # Small sets run single-threaded: a BH iteration takes well under a millisecond, so threads
    # gain nothing there and, with spinning waits on busy cores, cost 50x (see above).
    gradient = "fft" if n >= 2500 else "bh"
    embedding = TSNEEmbedding(start, affinities, negative_gradient_method=gradient,
                              n_jobs=n_jobs if gradient == "fft" else 1,
                              random_state=params.seed, verbose=False, callbacks=on_iterations,
                              callbacks_every_iters=_TSNE_CALLBACK_EVERY)
    try:
        embedding = embedding.optimize(n_iter=_TSNE_EARLY_ITERATIONS, exaggeration=12, momentum=0.5,
                                       propagate_exception=True)
        done_before = _TSNE_EARLY_ITERATIONS
        embedding = embedding.optimize(n_iter=params.tsne_iterations, momentum=0.8, propagate_exception=True)
    except OptimizationInterrupt as err:
        raise ProjectionCancelled("t-SNE cancelled") from err
    return np.asarray(embedding, dtype=np.float64)


def _import_umap():
    with warnings.catch_warnings():
        # umap announces at import that the optional TensorFlow-based ParametricUMAP is missing;
        # we never use it, and pytest's filterwarnings=error would turn the notice into a failure.
        warnings.filterwarnings("ignore", message="Tensorflow not installed", category=ImportWarning)
        import umap
    return umap


def _umap(x: np.ndarray, params: ProjectionParams) -> np.ndarray:
    umap = _import_umap()
    n_neighbors = min(params.n_neighbors, len(x) - 1)
    knn = (None, None, None)
    if len(x) <= _EXACT_KNN_MAX_POINTS:
        neighbours, distances = _exact_knn(x, n_neighbors)
        knn = (neighbours, distances, None)
    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=params.min_dist, n_components=2,
                        random_state=params.seed, transform_seed=params.seed, precomputed_knn=knn,
                        # A fixed seed makes umap run single-threaded anyway; saying so avoids its warning.
                        n_jobs=1, low_memory=True, verbose=False)
    with warnings.catch_warnings():
        # With our own neighbours umap has no search index for .transform(), which we never call.
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]", category=UserWarning)
        # Clustered latents can give a graph whose spectral start fails; umap then warns and
        # falls back to a random start, which still converges to a good map.
        warnings.filterwarnings("ignore", message="Spectral initialisation failed", category=UserWarning)
        layout = reducer.fit_transform(np.asarray(x, dtype=np.float32))
    return np.asarray(layout, dtype=np.float64)


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

    codes = _check_codes(codes)
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


def _rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in [0, 1), saturation, value of float RGB in [0, 1] (..., 3)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # Element-wise max/min: numpy reductions over a length-3 last axis are ~8x slower.
    high, low = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    spread = high - low
    safe = np.where(spread > 0, spread, 1.0)
    hue = np.where(high == r, (g - b) / safe, np.where(high == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    hue = np.where(spread > 0, (hue / 6.0) % 1.0, 0.0)
    saturation = np.where(high > 0, spread / np.where(high > 0, high, 1.0), 0.0)
    return hue, saturation, high


def dominant_hue(images: np.ndarray, *, top_fraction: float = 0.4, min_share: float = 0.1) -> np.ndarray:
    """(N,) hue in [0, 1) of the main saturated colour in the top of each face (the hair), or -1.

    Only saturated, not-too-dark pixels count (skin, outlines and grey backgrounds do not);
    when they cover less than ``min_share`` of the top ``top_fraction`` rows the hair is
    black, white or grey and the answer is -1. Red is ~0.0, green ~0.33, blue ~0.67.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise WaifuError(f"images must have shape (N, H, W, 3), got {images.shape}")
    bins = 36
    rows = max(1, int(round(images.shape[1] * top_fraction)))
    hues = np.full(len(images), -1.0)
    for start in range(0, len(images), 1024):  # bounded float memory for big sets
        top = images[start:start + 1024, :rows].astype(np.float32) / 255.0
        n = len(top)
        hue, saturation, value = (a.reshape(n, -1) for a in _rgb_to_hsv(top))
        chromatic = (saturation > 0.35) & (value > 0.25)
        weight = np.where(chromatic, saturation * value, 0.0)
        which = np.minimum((hue * bins).astype(np.int64), bins - 1)
        offsets = np.arange(n)[:, None] * bins
        histogram = np.bincount((offsets + which).ravel(), weight.ravel(), minlength=n * bins).reshape(n, bins)
        # Smooth circularly so a hue sitting on a bin edge is not split in two.
        smooth = histogram + np.roll(histogram, 1, axis=1) + np.roll(histogram, -1, axis=1)
        best = smooth.argmax(axis=1)
        near = np.abs((which - best[:, None] + bins // 2) % bins - bins // 2) <= 1
        w = np.where(near, weight, 0.0)
        angle = 2 * np.pi * hue
        mean = np.arctan2((w * np.sin(angle)).sum(1), (w * np.cos(angle)).sum(1)) / (2 * np.pi) % 1.0
        enough = chromatic.mean(axis=1) >= min_share
        hues[start:start + n] = np.where(enough, mean, -1.0)
    return hues


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of float sRGB in [0, 1]: distances there follow perceived colour differences."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    to_xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = linear @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def _thumbnails(images: np.ndarray, side: int = 16) -> np.ndarray:
    """(N, side, side, 3) float RGB in [0, 1]: box-filtered, so each value averages a patch."""
    n, h, w, _ = images.shape
    if h % side == 0 and w % side == 0:
        blocks = images.reshape(n, side, h // side, side, w // side, 3)
        # Integer sums one axis at a time: 3x faster than a float mean over both axes at once.
        sums = blocks.sum(axis=2, dtype=np.uint32).sum(axis=3)
        return sums / (255.0 * (h // side) * (w // side))
    from PIL import Image

    small = [np.asarray(Image.fromarray(img).resize((side, side), Image.Resampling.BOX)) for img in images]
    return np.stack(small).astype(np.float64) / 255.0


def image_features(images: np.ndarray, dims: int = 64) -> np.ndarray:
    """(N, dims) float32 features of faces for maps of models without an encoder (GANs).

    A 16x16 CIELAB thumbnail captures layout and colour; hue histograms of the top (hair) and the
    whole face plus a lightness histogram make hair colour count for more than its pixel share
    (the histograms get a third of the total variance). PCA then keeps the ``dims`` strongest
    directions; columns beyond the data's rank are zero. Deterministic.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise WaifuError(f"images must be a non-empty (N, H, W, 3) uint8 array, got {images.shape} {images.dtype}")
    pixel_parts, histogram_parts = [], []
    for start in range(0, len(images), 2048):
        thumbs = _thumbnails(images[start:start + 2048])
        n = len(thumbs)
        pixel_parts.append((_srgb_to_lab(thumbs) / 100.0).reshape(n, -1))
        hue, saturation, value = _rgb_to_hsv(thumbs)
        chroma = saturation * value
        hue_bins = np.minimum((hue * 12).astype(np.int64), 11)
        light_bins = np.minimum((value * 8).astype(np.int64), 7)
        top = thumbs.shape[1] * 2 // 5
        histograms = [_weighted_histograms(hue_bins[:, :top], chroma[:, :top], 12),
                      _weighted_histograms(hue_bins, chroma, 12),
                      _weighted_histograms(light_bins, 1.0 - saturation, 8)]
        histogram_parts.append(np.concatenate(histograms, axis=1))
    pixels, histograms = np.concatenate(pixel_parts), np.concatenate(histogram_parts)
    pixels -= pixels.mean(axis=0)
    histograms -= histograms.mean(axis=0)
    pixel_var, histogram_var = float((pixels**2).sum()), float((histograms**2).sum())
    if histogram_var > 0:
        histograms *= np.sqrt(0.5 * pixel_var / histogram_var) if pixel_var > 0 else 1.0
    features = np.concatenate([pixels, histograms], axis=1)
    reduced = _pca_reduce(features, dims)[:, :dims] if len(features) > 1 else np.zeros((1, 0))
    out = np.zeros((len(features), dims), np.float32)
    out[:, :reduced.shape[1]] = reduced
    return out


def _weighted_histograms(bins: np.ndarray, weights: np.ndarray, count: int) -> np.ndarray:
    """Per-image histograms (N, count) of integer ``bins`` with ``weights``, each summing to 1."""
    n = len(bins)
    flat = (np.arange(n)[:, None] * count + bins.reshape(n, -1)).ravel()
    histogram = np.bincount(flat, weights.reshape(n, -1).ravel(), minlength=n * count).reshape(n, count)
    return histogram / np.maximum(histogram.sum(axis=1, keepdims=True), 1e-9)
