"""Seeds are the currency: seed -> z, identical on every machine and device."""

from __future__ import annotations

import numpy as np

from ..errors import WaifuError

MAX_SEED = 2**31 - 1


def _seed_stream(seed: int) -> np.random.Generator:
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise WaifuError(f"seed must be between 0 and {MAX_SEED}, not {seed}")
    return np.random.Generator(np.random.PCG64(seed))


def seed_to_z(seed: int, latent_dim: int) -> np.ndarray:
    """Standard-normal noise for ``seed``: the same float32 vector on every machine and device.

    NumPy's PCG64 bit generator and its ziggurat normal sampler are specified bit for bit, so
    unlike ``torch.randn`` (which differs between CPU and CUDA) this is portable.
    """
    return seed_to_noise(seed, latent_dim)[0]


def seed_to_noise(seed: int, latent_dim: int) -> tuple[np.ndarray, float]:
    """``seed_to_z(seed)`` and the next number of the same stream, uniform in [0, 1).

    The uniform number picks a mixture prior's component (``prior.py``). It is drawn after the
    noise, so the noise of a seed is the same whatever prior samples it.
    """
    rng = _seed_stream(seed)
    z = rng.standard_normal(int(latent_dim), dtype=np.float64).astype(np.float32)
    return z, float(rng.random())


def seeds_to_noise(seeds: list[int] | range | np.ndarray, latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``seed_to_noise`` for each seed: noise (len(seeds), latent_dim) float32, picks (len(seeds),) float64."""
    pairs = [seed_to_noise(int(s), latent_dim) for s in seeds]
    if not pairs:
        return np.zeros((0, latent_dim), np.float32), np.zeros(0, np.float64)
    return np.stack([z for z, _ in pairs]), np.array([u for _, u in pairs], np.float64)


def seeds_to_z(seeds: list[int] | range | np.ndarray, latent_dim: int) -> np.ndarray:
    """Stack ``seed_to_z`` for each seed: shape (len(seeds), latent_dim)."""
    return seeds_to_noise(seeds, latent_dim)[0]
