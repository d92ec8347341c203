"""Seeds are the currency: seed -> z, identical on every machine and device."""

from __future__ import annotations

import numpy as np

from ..errors import WaifuError

MAX_SEED = 2**31 - 1


def seed_to_z(seed: int, latent_dim: int) -> np.ndarray:
    """Standard-normal noise for ``seed``: the same float32 vector on every machine and device.

    NumPy's PCG64 bit generator and its ziggurat normal sampler are specified bit for bit, so
    unlike ``torch.randn`` (which differs between CPU and CUDA) this is portable.
    """
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise WaifuError(f"seed must be between 0 and {MAX_SEED}, not {seed}")
    rng = np.random.Generator(np.random.PCG64(seed))
    return rng.standard_normal(int(latent_dim), dtype=np.float64).astype(np.float32)


def seeds_to_z(seeds: list[int] | range | np.ndarray, latent_dim: int) -> np.ndarray:
    """Stack ``seed_to_z`` for each seed: shape (len(seeds), latent_dim)."""
    if not len(seeds):
        return np.zeros((0, latent_dim), np.float32)
    return np.stack([seed_to_z(int(s), latent_dim) for s in seeds])
