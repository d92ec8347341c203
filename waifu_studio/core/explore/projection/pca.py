"""Principal component analysis of codes: the instant first map, t-SNE/UMAP input reduction, directions.

Exact and deterministic (a component's sign is fixed), plain numpy; shared by ``projection``,
``tsne`` and ``face_features``.
"""

from __future__ import annotations

import numpy as np

from ...errors import WaifuError


def check_codes(codes: np.ndarray) -> np.ndarray:
    """``codes`` as a C-contiguous float32 (N, D) array; a clear error for other shapes or NaNs."""
    arr = np.asarray(codes)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise WaifuError(f"codes must be a 2-D array (points x dimensions), got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise WaifuError("codes contain NaN or infinite values; the model may have diverged")
    return arr


ROWS = 4096  # rows per block: covariance and projections never hold a float64 copy of all the codes


def pca_basis(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (D,), components (k, D) unit rows by falling variance, variances (k,)), deterministic.

    Exact: SVD of the data when there are fewer points than dimensions, else eigendecomposition
    of the D x D covariance (summed in float64 over blocks of rows, so a 20,000 x 640 float32
    array is never copied whole); very wide data (raw pixels) goes through seeded randomized SVD.
    Each component's sign is fixed so its largest coordinate is positive: the same data always
    gives the same map, never its mirror image.
    """
    from threadpoolctl import threadpool_limits

    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    n, d = x.shape
    mean = x.mean(axis=0, dtype=np.float64)
    k = max(1, min(k, d))
    # These matrices are small; multi-threaded OpenBLAS gains little on them but, when the cores
    # are busy (training in the background), its spinning threads made an 800x800 eigh 80x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        if n < d and n <= 4096:
            _, singular, vt = np.linalg.svd(np.asarray(x, dtype=np.float64) - mean, full_matrices=False)
            components, variances = vt[:k], singular[:k] ** 2 / max(n - 1, 1)
        elif d <= 4096:
            # float32 codes: each block's product in float32 (its rows are centred, so the
            # rounding is ~1e-6 relative), the sum over blocks in float64; twice as fast
            dtype = np.float32 if x.dtype == np.float32 else np.float64
            covariance = np.zeros((d, d))
            for start in range(0, n, ROWS):
                block = (np.asarray(x[start:start + ROWS], dtype=np.float64) - mean).astype(dtype)
                covariance += block.T @ block
            covariance /= max(n - 1, 1)
            covariance = (covariance + covariance.T) / 2.0  # exactly symmetric whatever the BLAS did
            values, vectors = np.linalg.eigh(covariance)
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


def project_rows(x: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """``(x - mean) @ components.T`` in float64, a block of rows at a time, (N, k)."""
    out = np.empty((len(x), len(components)))
    basis = np.asarray(components, dtype=np.float64).T
    for start in range(0, len(x), ROWS):
        out[start:start + ROWS] = (np.asarray(x[start:start + ROWS], dtype=np.float64) - mean) @ basis
    return out


def pca_reduce(x: np.ndarray, dims: int) -> np.ndarray:
    """Coordinates of ``x`` on its first ``dims`` principal axes (no-op when already narrow)."""
    if x.shape[1] <= dims:
        return np.asarray(x, dtype=np.float64)
    mean, components, _ = pca_basis(x, dims)
    return project_rows(x, mean, components)


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
    codes = check_codes(codes)
    if len(codes) < 2:
        return np.zeros((len(codes), 2), np.float32)
    mean, components, _ = pca_basis(codes, 2)
    return normalise_layout(project_rows(codes, mean, components))


def principal_directions(codes: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """GANSpace-style slider axes: (k, D) unit directions and (k,) std-devs, largest first."""
    codes = check_codes(codes)
    _, components, variances = pca_basis(codes, k)
    return components.astype(np.float32), np.sqrt(variances).astype(np.float32)
