"""UMAP layouts of (PCA-reduced) codes, on exact neighbours; called by ``projection.project``."""

from __future__ import annotations

import threading
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from ...lazy_import import BackgroundImport
from .neighbours import exact_knn
from .params import ProjectionParams, raise_if_cancelled

# Brute-force neighbours cost N^2; above this many points umap's own approximate search wins.
EXACT_KNN_MAX_POINTS = 50_000


def import_umap() -> BackgroundImport:
    """Start importing umap (with numba and pynndescent) in a helper thread."""
    return BackgroundImport("umap", prepare=_import_quietly)


def _import_quietly() -> None:
    with warnings.catch_warnings():
        # umap announces at import that the optional TensorFlow-based ParametricUMAP is missing;
        # we never use it, and pytest's filterwarnings=error would turn the notice into a failure.
        warnings.filterwarnings("ignore", message="Tensorflow not installed", category=ImportWarning)
        import umap  # noqa: F401
    _cache_compiled_code()


# umap's numba functions that a map of precomputed neighbours runs, compiled on every first call
# in a process (no ``cache=True``): 5-11 s of a 20k map's ~20 s on a busy 2-core machine.
_UMAP_JIT_FUNCTIONS = (("umap.umap_", "smooth_knn_dist"), ("umap.umap_", "compute_membership_strengths"),
                       ("umap.layouts", "_nb_optimize_layout_euclidean_single_epoch"))


def _cache_compiled_code() -> None:
    """Swap those functions for identical ones that keep their machine code in numba's disk cache.

    Same Python source, same compile options, plus ``cache=True``: the first map on a machine
    still compiles them, later processes load the code in well under a second. If umap renames
    them, nothing is swapped and maps are only slower to start.
    """
    import importlib

    import numba

    for module_name, name in _UMAP_JIT_FUNCTIONS:
        module = importlib.import_module(module_name)
        compiled = getattr(module, name, None)
        options = getattr(compiled, "targetoptions", None)
        if options is None or not hasattr(compiled, "py_func") or options.get("cache"):
            continue
        setattr(module, name, numba.jit(cache=True, locals=dict(compiled.locals), **options)(compiled.py_func))


def umap_layout(x: np.ndarray, params: ProjectionParams, cancel: threading.Event | None,
                library: BackgroundImport | None = None) -> np.ndarray:
    """Unnormalised (N, 2) UMAP of ``x``; ``library`` is an ``import_umap()`` started earlier.

    The optimisation itself cannot be interrupted.
    """
    loading = library or import_umap()
    n_neighbors = min(params.n_neighbors, len(x) - 1)
    knn = (None, None, None)
    if len(x) <= EXACT_KNN_MAX_POINTS:
        neighbours, distances = exact_knn(x, n_neighbors)
        knn = (neighbours, distances, None)
    umap = loading.module(lambda: raise_if_cancelled(cancel))
    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=params.min_dist, n_components=2,
                        random_state=params.seed, transform_seed=params.seed, precomputed_knn=knn,
                        # A fixed seed makes umap run single-threaded anyway; saying so avoids its warning.
                        n_jobs=1, low_memory=True, verbose=False)
    # numba's OpenMP layer sets the calling thread's OpenMP thread count to all cores when it
    # starts its pool, and torch in the same thread then runs on that many: at 2 threads on a
    # loaded 2-core machine every torch op waits at a barrier for a descheduled thread (a test's
    # training run after a UMAP map went from 12 s to 180 s). threadpoolctl puts the count back.
    with threadpool_limits(limits=None, user_api="openmp"), warnings.catch_warnings():
        # With our own neighbours umap has no search index for .transform(), which we never call.
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]", category=UserWarning)
        # Clustered latents can give a graph whose spectral start fails; umap then warns and
        # falls back to a random start, which still converges to a good map.
        warnings.filterwarnings("ignore", message="Spectral initialisation failed", category=UserWarning)
        layout = reducer.fit_transform(np.asarray(x, dtype=np.float32))
    return np.asarray(layout, dtype=np.float64)
