"""Latent-space tools: seeds to z, interpolation, encoding, GAN inversion.

Nearest training faces live in ``core/quality/memorisation.py`` (a fixed feature space).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import WaifuError

if TYPE_CHECKING:
    from ..models.base import FaceModel

def lerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Linear interpolation; ``t`` may be a scalar or a 1-D array of positions (rows out)."""
    t_arr = np.asarray(t, dtype=np.float32)
    if t_arr.ndim == 0:
        return ((1.0 - t_arr) * a + t_arr * b).astype(np.float32)
    return ((1.0 - t_arr)[:, None] * a[None] + t_arr[:, None] * b[None]).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray, center: np.ndarray | None = None) -> np.ndarray:
    """Spherical interpolation around ``center`` (default the origin).

    Gaussian latents concentrate on a shell; slerp keeps in-between points on it, where lerp
    cuts through the low-density middle. Falls back to lerp for (anti)parallel vectors.
    """
    c = np.zeros_like(a) if center is None else center.astype(np.float32)
    a0, b0 = (a - c).astype(np.float64), (b - c).astype(np.float64)
    na, nb = np.linalg.norm(a0), np.linalg.norm(b0)
    t_arr = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if na < 1e-8 or nb < 1e-8:
        out = lerp(a, b, t_arr)
    else:
        cos = float(np.clip(np.dot(a0 / na, b0 / nb), -1.0, 1.0))
        omega = np.arccos(cos)
        if abs(np.sin(omega)) < 1e-6:
            out = lerp(a, b, t_arr)
        else:
            # Interpolate direction on the sphere and radius linearly, so norms differing is fine.
            ua, ub = a0 / na, b0 / nb
            s = np.sin(omega)
            wa = np.sin((1.0 - t_arr) * omega) / s
            wb = np.sin(t_arr * omega) / s
            direction = wa[:, None] * ua[None] + wb[:, None] * ub[None]
            direction /= np.linalg.norm(direction, axis=1, keepdims=True)
            radius = (1.0 - t_arr) * na + t_arr * nb
            out = (c[None] + direction * radius[:, None]).astype(np.float32)
            # Exact endpoints: t=0 and t=1 must reproduce a and b bit for bit.
            out[t_arr == 0.0] = a
            out[t_arr == 1.0] = b
    return out[0] if np.ndim(t) == 0 else out


def morph_latents(a: np.ndarray, b: np.ndarray, frames: int, *, spherical: bool = False,
                  center: np.ndarray | None = None) -> np.ndarray:
    """``frames`` latents from ``a`` to ``b`` inclusive (frames >= 2)."""
    if frames < 2:
        raise WaifuError("a morph needs at least 2 frames")
    t = np.linspace(0.0, 1.0, frames)
    return slerp(a, b, t, center) if spherical else lerp(a, b, t)


def interpolate(a: np.ndarray, b: np.ndarray, t: float, *, spherical: bool = False,
                center: np.ndarray | None = None) -> np.ndarray:
    """One in-between latent at position ``t`` in [0, 1]."""
    return slerp(a, b, float(t), center) if spherical else lerp(a, b, float(t))


ProgressFn = Callable[[int, int, float], None]


def invert_image(model: FaceModel, image: np.ndarray, *, steps: int = 300, lr: float = 0.05,
                 restarts: int = 8, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None) -> np.ndarray:
    """Find a latent whose decode looks like ``image`` (HxWx3 uint8) by optimisation.

    Used for GANs, which have no encoder. Starts from the best of ``restarts`` prior samples,
    then minimises pixel MSE plus a small prior penalty with Adam. ``progress(step, steps, loss)``
    is called along the way; setting ``cancel`` returns the best latent so far.
    """
    device = model.device
    target = model.images_to_tensor(image[None]).to(device)
    with torch.no_grad():
        candidates = torch.from_numpy(model.seeds_to_latents(range(restarts))).to(device)
        errors = ((model.decode_tensor(candidates).float() - target) ** 2).flatten(1).mean(1)
        start = candidates[int(errors.argmin())].clone()
    z = start[None].clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    center = torch.from_numpy(model.latent_mean).to(device)
    best, best_loss = z.detach().clone(), float("inf")
    was_training = model.training
    model.eval()
    try:
        for step in range(steps):
            if cancel is not None and cancel.is_set():
                break
            optimizer.zero_grad(set_to_none=True)
            recon = model.decode_tensor(z).float()
            pixel = ((recon - target) ** 2).mean()
            prior = 1e-3 * ((z - center) ** 2).mean()
            loss = pixel + prior
            value = float(pixel.detach())
            if value < best_loss:  # the latent this loss was measured on, before the step moves it
                best_loss, best = value, z.detach().clone()
            loss.backward()
            optimizer.step()
            if progress is not None:
                progress(step + 1, steps, value)
    finally:
        model.train(was_training)
    return best[0].cpu().numpy().astype(np.float32)
