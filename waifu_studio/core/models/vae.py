"""Convolutional VAE: reconstruction + beta * KL, with linear or cyclical KL annealing; a fitted prior to sample."""

from __future__ import annotations

import torch

from ..config import ModelConfig, TrainConfig
from .base import FaceModel
from .blocks import ConvDecoder, ConvEncoder, init_weights
from .objective import AutocastFactory, step_optimizer
from .prior_fit import FittedPriorObjective


class VAEModel(FaceModel):
    family = "vae"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        r, w, d, x = config.resolution, config.width, config.latent_dim, config.extra_convs
        self.encoder = ConvEncoder(r, w, 2 * d, norm="batch", extra_convs=x)  # mean and log-variance
        self.generator = ConvDecoder(d, r, w, extra_convs=x)
        init_weights(self)
        # Samples come from a mixture fitted to the posterior means of the training faces, not from
        # N(0, I): the codes do not fill the standard normal, and its empty regions decode to smears.
        self.attach_prior()

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.encoder(x).float().chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def encode_tensor(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]  # the posterior mean: deterministic codes for maps and morphs

    def codes_from_encoder_output(self, output: torch.Tensor) -> torch.Tensor:
        return output.float().chunk(2, dim=1)[0]  # the posterior mean, as encode_tensor gives


def kl_weight(config: TrainConfig, step: int) -> float:
    """beta at ``step``: constant, a linear warm-up, or cyclical (Fu et al. 2019: ramp half, hold half)."""
    beta = config.kl_beta
    if config.kl_schedule == "constant":
        return beta
    if config.kl_schedule == "linear":
        return beta * min(1.0, step / max(1, config.kl_warmup_steps))
    cycle = max(2, config.kl_cycle_steps)
    return beta * min(1.0, (step % cycle) / (0.5 * cycle))


class VAEObjective(FittedPriorObjective):
    loss_names = ("loss", "recon", "kl", "beta")

    def __init__(self, model: VAEModel, config: TrainConfig) -> None:
        super().__init__(model, config)
        self.add_module("model", model)
        self.opt = self.add_optimizer("model", model.parameters(), config.lr)

    def train_step(self, real: torch.Tensor, step: int, autocast: AutocastFactory) -> dict[str, torch.Tensor]:
        model: VAEModel = self.model  # type: ignore[assignment]
        with autocast():
            mean, logvar = model.posterior(real)
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
            recon = model.generator(z)
        # Per-image sums: squared error over pixels (Gaussian likelihood) and KL over latent dims.
        sq_err = (recon.float() - real).pow(2).flatten(1).sum(1).mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()
        beta = kl_weight(self.config, step)
        loss = sq_err + beta * kl
        step_optimizer(self.opt, loss)
        pixels = real[0].numel()
        return {
            "loss": loss.detach(),
            "recon": sq_err.detach() / pixels / 4.0,  # per-pixel MSE on the [0, 1] scale
            "kl": kl.detach(),  # nats per image: near 0 means posterior collapse
            "beta": torch.tensor(beta),
        }
