"""GANSpace-style directions of a model's latent space, and sweeps of a face along them.

A PCA of the latents themselves is noise for an isotropic prior (every direction has the same
variance), so the directions are found where faces differ (pixels of many decoded faces) and
mapped back to latent space by least squares, as GANSpace does with BigGAN's activations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..models import FaceModel
from .projection import principal_directions
from .projection.params import raise_if_cancelled

N_DIRECTIONS = 10
N_PRIOR_SAMPLES = 384  # faces decoded to find the directions (a few seconds on a CPU)
FEATURE_SIDE = 16  # faces are compared as 16x16 thumbnails: enough for colour, brightness, pose
SWEEP = np.arange(-3, 4, dtype=np.float32)  # -3 .. +3 std, 7 faces


@dataclass
class LatentAxes:
    """Directions of one model's latent space: principal axes and per-dimension spread."""

    directions: np.ndarray  # (k, D) unit vectors in latent space
    direction_std: np.ndarray  # (k,) spread of the prior's latents along each direction
    dim_std: np.ndarray  # (D,)
    explained: float  # share of the faces' pixel variance the k image-space axes carry


def _thumbnails(faces: np.ndarray, side: int = FEATURE_SIDE) -> np.ndarray:
    n, res = len(faces), faces.shape[1]
    x = faces.astype(np.float32) / 255.0
    if res > side and res % side == 0:
        f = res // side
        x = x.reshape(n, side, f, side, f, 3).mean(axis=(2, 4))
    return x.reshape(n, -1)


def compute_axes(model: FaceModel, n_samples: int = N_PRIOR_SAMPLES, k: int = N_DIRECTIONS, *,
                 progress: Callable[[float], None] | None = None,
                 cancel: threading.Event | None = None) -> LatentAxes:
    """GANSpace for any family: PCA of what sampled faces look like, regressed back onto the latents.

    A PCA of the latents themselves would be noise for an isotropic prior (every direction has the
    same variance), so the axes are found where faces differ (pixels) and mapped to latent space by
    least squares, as GANSpace does with BigGAN's activations.
    """
    codes = model.seeds_to_latents(range(n_samples))
    batches = []
    for start in range(0, n_samples, 64):
        raise_if_cancelled(cancel)
        batches.append(_thumbnails(model.decode(codes[start:start + 64])))
        if progress is not None:
            progress(min(1.0, (start + 64) / n_samples))
    pixels = np.concatenate(batches)
    k = min(k, model.latent_dim, n_samples - 1)
    components, pixel_std = principal_directions(pixels, k)
    coords = (pixels - pixels.mean(axis=0)) @ components.T  # (n, k) position of each face on each axis
    centred = (codes - codes.mean(axis=0)).astype(np.float64)
    ridge = 1e-3 * n_samples * np.eye(centred.shape[1])  # keeps the regression stable with few samples
    weights = np.linalg.solve(centred.T @ centred + ridge, centred.T @ coords)  # (D, k)
    directions = (weights / np.linalg.norm(weights, axis=0, keepdims=True)).T.astype(np.float32)
    total = float(pixels.var(axis=0, ddof=1).sum()) or 1.0
    return LatentAxes(directions, (centred @ directions.T).std(axis=0).astype(np.float32),
                      codes.std(axis=0).astype(np.float32), float((pixel_std ** 2).sum() / total))


def sweep_latents(latent: np.ndarray, axes: LatentAxes, index: int, offsets: np.ndarray = SWEEP) -> np.ndarray:
    """``latent`` moved along direction ``index`` by each of ``offsets`` (in standard deviations)."""
    step = axes.directions[index] * axes.direction_std[index]
    return (np.asarray(latent, np.float32)[None] + offsets[:, None] * step[None]).astype(np.float32)


def direction_sweeps(model: FaceModel, latent: np.ndarray, axes: LatentAxes, offsets: np.ndarray = SWEEP
                     ) -> np.ndarray:
    """(k, len(offsets), H, W, 3): one row of faces per direction, the face swept from -3 to +3 std."""
    return np.stack([model.decode(sweep_latents(latent, axes, i, offsets)) for i in range(len(axes.directions))])
