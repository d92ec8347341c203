"""Where AE and VAE models sample from: a Gaussian mixture over their latent codes.

An autoencoder has no prior of its own, and a VAE's codes do not fill its N(0, I) prior, so both
sample from a density fitted to the codes of their training faces after training (ex-post
density estimation: Ghosh et al. 2020, "From Variational to Deterministic Autoencoders").
``prior_fit.py`` fits it; this module holds it and samples through it.

A prior is K component weights, K means and K scales. A scale is stored as per-dimension standard
deviations (K, D) for diagonal or spherical covariances, or as lower-triangular Cholesky factors
(K, D, D) for full ones, or one factor (1, D, D) shared by every component (tied). The default,
one component with mean 0 and unit scales, is the standard normal: a VAE loaded from a file made
before mixtures existed samples exactly as it did.

A seed's PCG64 stream gives the noise first and then one uniform number (``seeds.seed_to_noise``);
the number picks the component by its weight, and the face is ``mean_k + L_k @ noise``. So a seed
is one face on every machine, and a one-component prior (the single Gaussian AE checkpoints used
to carry) ignores the pick and gives the same latents as before.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError, WaifuError

PRIOR_PREFIX = "prior."
# The single-Gaussian AE prior before mixtures: buffers of the model itself (checkpoint format 1).
LEGACY_MEAN, LEGACY_TRIL = "prior_mean", "prior_tril"


class MixturePrior(nn.Module):
    """K weighted Gaussians over D-dimensional codes, stored as buffers (saved in checkpoints)."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.register_buffer("weights", torch.ones(1))
        self.register_buffer("means", torch.zeros(1, self.latent_dim))
        self.register_buffer("scales", torch.ones(1, self.latent_dim))
        # What the last fit chose and why (a JSON-able dict, saved in the checkpoint's metadata).
        self.fit_report: dict = {}

    # ----------------------------------------------------------------- facts
    @property
    def components(self) -> int:
        return int(self.weights.shape[0])

    @property
    def covariance(self) -> str:
        """'diag' (per-dimension scales), 'full' (a factor per component) or 'tied' (one shared factor)."""
        if self.scales.ndim == 2:
            return "diag"
        return "tied" if self.scales.shape[0] == 1 and self.components > 1 else "full"

    @property
    def mean(self) -> np.ndarray:
        """The mixture's mean (D,): the centre slerp and inversion use."""
        weights = self.weights.detach().double().cpu()
        means = self.means.detach().double().cpu()
        if self.components == 1:
            return means[0].float().numpy()
        return (weights / weights.sum() @ means).float().numpy()

    def describe(self) -> str:
        if self.components == 1 and self.covariance == "diag" and not self.fit_report:
            return "standard normal"
        kind = self.fit_report.get("covariance", self.covariance)
        return f"{self.components} Gaussian{'s' if self.components > 1 else ''} ({kind} covariance)"

    # -------------------------------------------------------------- sampling
    def pick_components(self, picks: np.ndarray) -> np.ndarray:
        """Uniform numbers in [0, 1) -> component indices, each component taken with its weight."""
        cumulative = np.cumsum(self.weights.detach().double().cpu().numpy())
        index = np.searchsorted(cumulative / cumulative[-1], np.asarray(picks, np.float64), side="right")
        return np.minimum(index, self.components - 1)

    def latents(self, noise: np.ndarray, picks: np.ndarray | None = None) -> np.ndarray:
        """Standard-normal ``noise`` (N, D) -> latents: ``mean_k + L_k @ noise`` for each row's component.

        ``picks`` (N,) are the rows' uniform numbers from their seeds; without them every row uses
        the heaviest component (noise that does not come from a seed has no pick).
        """
        eps = torch.as_tensor(np.asarray(noise, np.float32))
        if eps.ndim != 2 or eps.shape[1] != self.latent_dim:
            raise WaifuError(f"noise must have shape (N, {self.latent_dim}), got {tuple(eps.shape)}")
        if picks is None:
            chosen = np.full(len(eps), int(self.weights.argmax()))
        else:
            chosen = self.pick_components(picks)
        means = self.means.detach().float().cpu()
        scales = self.scales.detach().float().cpu()
        out = torch.empty_like(eps)
        for k in np.unique(chosen):
            rows = torch.from_numpy(np.flatnonzero(chosen == k))
            # Every row of a one-component prior at once: the same arithmetic as the old AE prior.
            part = eps if len(rows) == len(eps) else eps[rows]
            if self.covariance == "diag":
                value = means[k] + part * scales[k]
            else:
                tril = scales[0] if self.covariance == "tied" else scales[k]
                value = means[k] + part @ tril.T
            out[rows] = value
        return out.numpy().astype(np.float32)

    def log_likelihood(self, codes: np.ndarray) -> np.ndarray:
        """Log-density (nats) of each code (N, D) under this prior: how well it covers where codes are."""
        x = torch.as_tensor(np.asarray(codes, np.float64))
        log_weights = torch.log(self.weights.detach().double().cpu())
        means, scales = self.means.detach().double().cpu(), self.scales.detach().double().cpu()
        per_component = []
        for k in range(self.components):
            diff = x - means[k]
            if self.covariance == "diag":
                z, log_det = diff / scales[k], torch.log(scales[k]).sum()
            else:
                tril = scales[0] if self.covariance == "tied" else scales[k]
                z = torch.linalg.solve_triangular(tril, diff.T, upper=False).T
                log_det = torch.log(torch.diagonal(tril)).sum()
            per_component.append(log_weights[k] - log_det - 0.5 * (z * z).sum(1))
        constant = 0.5 * self.latent_dim * np.log(2.0 * np.pi)
        return (torch.logsumexp(torch.stack(per_component), dim=0) - constant).numpy()

    # --------------------------------------------------------------- setting
    def set_mixture(self, weights: np.ndarray, means: np.ndarray, scales: np.ndarray,
                    report: dict | None = None) -> None:
        """Replace the prior (shapes as in the module docstring); the buffers take the new shapes."""
        weights = np.asarray(weights, np.float64)
        means, scales = np.asarray(means, np.float64), np.asarray(scales, np.float64)
        problem = _shape_problem(weights.shape, means.shape, scales.shape, self.latent_dim)
        if problem:
            raise WaifuError(f"cannot set the prior: {problem}")
        if not (np.isfinite(weights).all() and np.isfinite(means).all() and np.isfinite(scales).all()):
            raise WaifuError("cannot set the prior: it has NaN or infinite values")
        device = self.means.device
        self.weights = torch.from_numpy(weights / weights.sum()).float().to(device)
        self.means = torch.from_numpy(means).float().to(device)
        self.scales = torch.from_numpy(scales).float().to(device)
        self.fit_report = dict(report or {})

    def set_gaussian(self, mean: np.ndarray, tril: np.ndarray, report: dict | None = None) -> None:
        """One full-covariance Gaussian: ``mean`` (D,) and the Cholesky factor ``tril`` (D, D)."""
        self.set_mixture(np.ones(1), np.asarray(mean)[None], np.asarray(tril)[None], report)

    def fit_gaussian(self, codes: np.ndarray) -> None:
        """One Gaussian fitted to ``codes`` (N, D); a small ridge keeps the covariance positive definite.

        What checkpoints taken during training sample through (cheap); training ends with a mixture.
        """
        codes = np.asarray(codes, np.float64)
        cov = np.cov(codes, rowvar=False) if len(codes) > 1 else np.eye(codes.shape[1])
        cov = cov + np.eye(cov.shape[0]) * max(1e-6, 1e-4 * float(np.trace(cov)) / cov.shape[0])
        self.set_gaussian(codes.mean(0), np.linalg.cholesky(cov),
                          {"components": 1, "covariance": "full", "fitted_on": len(codes)})

    # ----------------------------------------------------------- checkpoints
    def adapt_state(self, state: dict[str, torch.Tensor], prefix: str = PRIOR_PREFIX) -> None:
        """Make a loaded state dict (``state``, changed in place) and these buffers agree.

        Translates the old single-Gaussian keys, fills a missing prior with the standard normal
        (a VAE from before mixtures), checks the shapes, and resizes the buffers to them, so
        ``load_state_dict`` then copies the stored mixture in whatever its K and covariance.
        """
        parent = prefix[: -len(PRIOR_PREFIX)] if prefix.endswith(PRIOR_PREFIX) else ""
        if parent + LEGACY_MEAN in state or parent + LEGACY_TRIL in state:
            mean, tril = state.pop(parent + LEGACY_MEAN, None), state.pop(parent + LEGACY_TRIL, None)
            if mean is None or tril is None:
                raise CheckpointError(f"the prior is incomplete: it has only one of {LEGACY_MEAN}, {LEGACY_TRIL}")
            state[prefix + "weights"] = torch.ones(1)
            state[prefix + "means"] = mean[None]
            state[prefix + "scales"] = tril[None]
        names = ("weights", "means", "scales")
        present = [n for n in names if prefix + n in state]
        if not present:
            state.update({prefix + "weights": torch.ones(1), prefix + "means": torch.zeros(1, self.latent_dim),
                          prefix + "scales": torch.ones(1, self.latent_dim)})
        elif len(present) < len(names):
            missing = next(n for n in names if n not in present)
            raise CheckpointError(f"the prior is incomplete: {prefix}{missing} is missing")
        shapes = [tuple(state[prefix + n].shape) for n in names]
        problem = _shape_problem(*shapes, self.latent_dim)
        if problem:
            raise CheckpointError(f"the prior does not fit this model: {problem}")
        for name, shape in zip(names, shapes, strict=True):
            buffer = getattr(self, name)
            if tuple(buffer.shape) != shape:
                setattr(self, name, torch.zeros(shape, dtype=buffer.dtype, device=buffer.device))


def _shape_problem(weights: tuple, means: tuple, scales: tuple, dim: int) -> str:
    """Why these shapes are not a prior over ``dim``-d codes, or '' if they are one."""
    if len(weights) != 1 or weights[0] < 1:
        return f"weights must have shape (K,), not {weights}"
    k = weights[0]
    if means != (k, dim):
        return f"means must have shape ({k}, {dim}), not {means}"
    if scales not in ((k, dim), (k, dim, dim), (1, dim, dim)):
        return f"scales must have shape ({k}, {dim}), ({k}, {dim}, {dim}) or (1, {dim}, {dim}), not {scales}"
    return ""
