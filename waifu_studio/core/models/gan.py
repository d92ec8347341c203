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
        # Buffers (batch-norm statistics) are not averaged: recalibrate_batch_norm() sets them.

    @torch.no_grad()
    def recalibrate_batch_norm(self, batches: int = 1, batch_size: int = 128) -> None:
        """Recompute the averaged generator's batch-norm statistics from its own activations.

        EMA averages weights but the running statistics come from the raw generator, whose
        activations differ; sampling with mismatched statistics shifts colours and collapses
        variety. A pass over fresh noise with a cumulative average fixes them. Each channel's
        statistics average over samples x pixels: 128 samples give at least 128 x 4 x 4 = 2,048
        values per channel (the first layer), a mean known to 1/45 of a standard deviation. It
        runs at every checkpoint, including the one on Stop, where it was the largest part of
        the wait (256 samples: ~4 s of a DCGAN 64 px stop on a 2-core CPU; 128: half that).
        """
        if not self.use_ema:
            return
        generator = self.model.generator
        norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        was_training = generator.training
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average over the calibration batches
        generator.train()
        device = next(generator.parameters()).device
        # Own generator: calibrating must not consume the training RNG (resume stays exact).
        rng = torch.Generator(device=device).manual_seed(1234)
        for _ in range(batches):
            generator(torch.randn(batch_size, self.model.latent_dim, device=device, generator=rng))
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        generator.train(was_training)

    def before_save(self, images: torch.Tensor) -> None:
        self.recalibrate_batch_norm()

    def finish(self, images: torch.Tensor) -> bool:
        self.recalibrate_batch_norm()
        return True

    def train(self, mode: bool = True) -> None:
        super().train(mode)
        self.model.train(mode)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["use_ema"] = self.use_ema
        return state


def bce_logits(logits: torch.Tensor, target: float) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), target))
