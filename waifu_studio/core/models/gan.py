"""What both GAN families share: a generator model, an EMA of its weights, the G optimizer."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..config import ModelConfig, TrainConfig
from .base import FaceModel
from .blocks import ConvDecoder, init_weights
from .objective import Objective


class GANModel(FaceModel):
    """Ships only the generator. When trained with EMA, these are the averaged weights."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.generator = ConvDecoder(config.latent_dim, config.resolution, config.width, config.extra_convs)
        init_weights(self)


class GANObjective(Objective):
    """Keeps the raw (optimised) generator apart from the model's averaged one.

    Sampling from an exponential moving average of generator weights gives cleaner, more stable
    faces than the last iterate (Yazici et al. 2019; used by ProGAN/StyleGAN).
    """

    def __init__(self, model: GANModel, config: TrainConfig) -> None:
        super().__init__(model, config)
        self.use_ema = config.ema_decay > 0
        self.g: nn.Module = copy.deepcopy(model.generator) if self.use_ema else model.generator
        self.add_module("g", self.g)
        self.opt_g = self.add_optimizer("g", self.g.parameters(), config.lr)

    def noise(self, n: int, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(n, self.model.latent_dim, device=like.device)

    @torch.no_grad()
    def update_ema(self, step: int) -> None:
        if not self.use_ema:
            return
        # Ramp the decay up early on so the average does not drag the random initial weights along.
        decay = min(self.config.ema_decay, (1.0 + step) / (10.0 + step))
        ema_params = list(self.model.generator.parameters())
        raw_params = list(self.g.parameters())
        torch._foreach_lerp_(ema_params, raw_params, 1.0 - decay)
        for b_ema, b_raw in zip(self.model.generator.buffers(), self.g.buffers()):
            b_ema.copy_(b_raw)

    def train(self, mode: bool = True) -> None:
        super().train(mode)
        self.model.train(mode)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["use_ema"] = self.use_ema
        return state


def bce_logits(logits: torch.Tensor, target: float) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), target))
