"""Convolutional autoencoder; it samples through a Gaussian mixture fitted to its training codes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import ModelConfig, TrainConfig
from .base import FaceModel
from .blocks import ConvDecoder, ConvEncoder, init_weights
from .objective import AutocastFactory, step_optimizer
from .prior_fit import FittedPriorObjective


class AutoencoderModel(FaceModel):
    """An AE has no prior of its own, so it samples through one fitted to its training codes (``prior.py``)."""

    family = "ae"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        r, w, d, x = config.resolution, config.width, config.latent_dim, config.extra_convs
        self.encoder = ConvEncoder(r, w, d, norm="batch", extra_convs=x)
        self.generator = ConvDecoder(d, r, w, extra_convs=x)
        init_weights(self)
        self.attach_prior()

    def encode_tensor(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


class AutoencoderObjective(FittedPriorObjective):
    loss_names = ("recon",)

    def __init__(self, model: AutoencoderModel, config: TrainConfig) -> None:
        super().__init__(model, config)
        self.add_module("model", model)
        self.opt = self.add_optimizer("model", model.parameters(), config.lr)

    def train_step(self, real: torch.Tensor, step: int, autocast: AutocastFactory) -> dict[str, torch.Tensor]:
        model: AutoencoderModel = self.model  # type: ignore[assignment]
        with autocast():
            recon = model.generator(model.encoder(real))
        loss = F.mse_loss(recon.float(), real)
        step_optimizer(self.opt, loss)
        # Logged on the [0, 1] pixel scale (the scale PSNR is quoted on): MSE/4 of the [-1, 1] one.
        return {"recon": loss.detach() / 4.0}
