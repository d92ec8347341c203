"""t-SNE layouts with openTSNE: exact neighbours, FFT-interpolated gradients, frames while it unfolds.

Called by ``projection.project`` with codes already reduced by PCA. The slow parts, in order:
the exact neighbour search, importing openTSNE, the perplexity calibration, then the gradient
descent. Each of its iterations computes the attractive forces along the ~3.5M affinities of
20k points (10-15 ms on 2 cores) and the repulsive forces, interpolated on an FFT grid that
covers the whole map (so it grows as the map spreads out; ~6 ms with the cells below).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from ...lazy_import import BackgroundImport
from .neighbours import exact_knn
from .params import ProgressFn, ProjectionCancelled, ProjectionParams, raise_if_cancelled
from .pca import normalise_layout, pca_reduce

EARLY_ITERATIONS = 125
CALLBACK_EVERY = 25
AFFINITY_SHARE = 0.15  # share of the progress bar given to the neighbour search
# Brute-force neighbours cost N^2; above this many points openTSNE's approximate search wins.
EXACT_KNN_MAX_POINTS = 50_000
# The FFT grid of the repulsive forces covers the whole map with cells of FFT_CELL_WIDTH map units,
# but never fewer than FFT_MIN_CELLS per side (openTSNE's defaults: 1 unit, 50 cells). On the 20k
# shared faces a late iteration with 1-unit cells spent 44 ms on FFTs (a ~90-unit map), 10 ms
# with 2-unit cells; an early one (a ~10-unit map) 12 ms on 50 cells, 3 ms on 20 (still cells
# under 1 unit). Same run, PCA-100 of those codes: openTSNE's defaults (cells, 250 + 500
# iterations) took 37 s to KL 4.00; these cells with 125 + 375 iterations took 12 s to KL 4.16,
# with the same share of 10-nearest neighbours kept (0.091 / 0.092) and trustworthiness (0.79).
FFT_CELL_WIDTH = 2.0
FFT_MIN_CELLS = 20


def worker_count() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def tsne_layout(x: np.ndarray, params: ProjectionParams, report: ProgressFn,
                cancel: threading.Event | None) -> np.ndarray:
    """Unnormalised (N, 2) t-SNE of ``x``: ``EARLY_ITERATIONS`` exaggerated + ``params.tsne_iterations``."""

    def check() -> None:
        raise_if_cancelled(cancel)

    n = len(x)
    n_jobs = worker_count()
    # openTSNE would lower a too-large perplexity itself, but with a log warning; do it quietly.
    perplexity = min(params.perplexity, (n - 1) / 3.0)
    knn = None
    if n <= EXACT_KNN_MAX_POINTS:
        # The same 3 * perplexity exact neighbours scikit-learn's TSNE uses.
        knn = exact_knn(x, min(n - 1, int(3 * perplexity)) + 1)
    check()
    # openTSNE pulls in scikit-learn and scipy (1-3 s); imported in a helper thread so that a
    # cancel is honoured at once rather than after the import.
    BackgroundImport("openTSNE").module(check)
    from openTSNE import TSNEEmbedding, affinity, initialization
    from openTSNE.nearest_neighbors import PrecomputedNeighbors
    from openTSNE.tsne import OptimizationInterrupt

    if knn is not None:
        neighbours, distances = knn
        index = PrecomputedNeighbors(neighbours[:, 1:], distances[:, 1:].astype(np.float64))
        affinities = affinity.PerplexityBasedNN(perplexity=perplexity, knn_index=index, n_jobs=n_jobs)
    else:
        affinities = affinity.PerplexityBasedNN(x, perplexity=perplexity, method="annoy", n_jobs=n_jobs,
                                                random_state=params.seed, verbose=False)
    check()
    # PCA start (scaled to openTSNE's tiny std) so the first frames already look like the data.
    start = initialization.rescale(np.ascontiguousarray(pca_reduce(x, 2)[:, :2]))
    report(AFFINITY_SHARE, normalise_layout(start))
    total = EARLY_ITERATIONS + params.tsne_iterations
    done_before = 0

    def on_iterations(iteration: int, error: float, embedding: np.ndarray) -> bool:
        fraction = AFFINITY_SHARE + (1 - AFFINITY_SHARE) * (done_before + iteration) / total
        report(min(fraction, 0.999), normalise_layout(embedding))
        return cancel is not None and cancel.is_set()  # True makes openTSNE stop

    # FFT-interpolated gradients scale linearly with N; Barnes-Hut is quicker on small sets
    # (measured crossover ~2-3k points: at 5k FFT was 2x faster, at 2k BH slightly faster).
    # Small sets run single-threaded: a BH iteration takes well under a millisecond, so threads
    # gain nothing there and, with spinning waits on busy cores, cost 50x (see projection._compute).
    gradient = "fft" if n >= 2500 else "bh"
    embedding = TSNEEmbedding(start, affinities, negative_gradient_method=gradient,
                              n_jobs=n_jobs if gradient == "fft" else 1, ints_in_interval=FFT_CELL_WIDTH,
                              min_num_intervals=FFT_MIN_CELLS,
                              random_state=params.seed, verbose=False, callbacks=on_iterations,
                              callbacks_every_iters=CALLBACK_EVERY)
    try:
        embedding = embedding.optimize(n_iter=EARLY_ITERATIONS, exaggeration=12, momentum=0.5,
                                       propagate_exception=True)
        done_before = EARLY_ITERATIONS
        embedding = embedding.optimize(n_iter=params.tsne_iterations, momentum=0.8, propagate_exception=True)
    except OptimizationInterrupt as err:
        raise ProjectionCancelled("t-SNE cancelled") from err
    return np.asarray(embedding, dtype=np.float64)
