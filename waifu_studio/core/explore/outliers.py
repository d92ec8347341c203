"""Per-face scores that make a data set's outliers stand out on a map (badly cropped or non-face images).

``reconstruction_errors``: how badly an AE/VAE redraws each face (mean squared error in [0, 1]
pixels); faces unlike the rest are redrawn worst. ``neighbour_distances``: how far each code is
from its nearest codes; isolated faces (duplicates score 0) stand apart. Both take a cancel event
and report progress, and the errors are cached with the folder's codes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ..models import FaceModel
from .codes import load_codes, save_codes
from .maps import check_cancel
from .projection.pca import check_codes, pca_reduce

BATCH = 256
NEIGHBOURS = 5
NEIGHBOUR_DIMS = 32  # codes are compared on their first 32 principal axes: exact search stays affordable


def reconstruction_errors(model: FaceModel, faces: np.ndarray, *, cache: tuple[str, str] | None = None,
                          progress: Callable[[float], None] | None = None,
                          cancel: threading.Event | None = None) -> np.ndarray:
    """(N,) float32 mean squared error of each face against its reconstruction (AE/VAE).

    ``cache`` is (model identity, data key) of a folder's codes: the errors are kept beside them.
    """
    n = len(faces)
    if cache is not None:
        cached = load_codes(*cache, n, 0, kind="recon")
        if cached is not None:
            return cached
    errors = np.empty(n, np.float32)
    for start in range(0, n, BATCH):
        check_cancel(cancel)
        batch = np.asarray(faces[start:start + BATCH])
        again = model.reconstruct(batch)
        diff = (batch.astype(np.float32) - again.astype(np.float32)) / 255.0
        errors[start:start + len(batch)] = (diff * diff).reshape(len(batch), -1).mean(1)
        if progress is not None:
            progress(min(n, start + BATCH) / n)
    if cache is not None:
        save_codes(*cache, errors, kind="recon")
    return errors


def neighbour_distances(codes: np.ndarray, k: int = NEIGHBOURS, *, cancel: threading.Event | None = None) -> np.ndarray:
    """(N,) float32 mean distance of each code to its ``k`` nearest other codes."""
    from .projection.neighbours import exact_knn

    codes = check_codes(codes)
    if len(codes) < 2:
        return np.zeros(len(codes), np.float32)
    check_cancel(cancel)
    reduced = pca_reduce(codes, NEIGHBOUR_DIMS).astype(np.float32)
    check_cancel(cancel)
    _, distances = exact_knn(reduced, min(k, len(codes) - 1) + 1)
    return distances[:, 1:].mean(1).astype(np.float32)
