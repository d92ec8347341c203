"""DCGAN (Radford et al. 2015) with label smoothing on the discriminator's targets.

Options that keep the family (BCE losses, conv generator and discriminator) but train it better
on a small set: spectral normalisation of the discriminator's weights instead of batch norm
(Miyato et al. 2018) and differentiable augmentation of what it sees (``augment.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import TrainConfig, parse_augment_policy
from .augment import augment
from .blocks import ConvEncoder, init_weights
from .gan import GANModel, GANObjective, bce_logits
from .objective import AutocastFactory, step_optimizer


class DCGANModel(GANModel):
    family = "dcgan"


class DCGANObjective(GANObjective):
    loss_names = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self, model: DCGANModel, config: TrainConfig) -> None:
        super().__init__(model, config)
        c = model.config
        spectral = config.d_norm == "spectral"
        self.d = ConvEncoder(c.resolution, c.width, 1, norm="none" if spectral else "batch", extra_convs=0)
        init_weights(self.d)
        if spectral:
            for module in self.d.modules():
                if isinstance(module, nn.Conv2d):
                    nn.utils.parametrizations.spectral_norm(module)
        self.add_module("d", self.d)
        self.policy = parse_augment_policy(config.augment)
        self.d.to(next(model.parameters()).device)
        self.opt_d = self.add_optimizer("d", self.d.parameters(), config.lr_d)

    def train_step(self, real: torch.Tensor, step: int, autocast: AutocastFactory) -> dict[str, torch.Tensor]:
        cfg = self.config
        z = self.noise(real.shape[0], real)
        with autocast():
            fake = self.g(z)
            d_real = self.d(augment(real, self.policy))
            d_fake = self.d(augment(fake.detach(), self.policy))
        # Smoothed targets (e.g. real 0.9) keep D from growing over-confident and starving G's gradients.
        d_loss = bce_logits(d_real, cfg.real_label) + bce_logits(d_fake, cfg.fake_label)
        step_optimizer(self.opt_d, d_loss)
        with autocast():
            d_gen = self.d(augment(fake, self.policy))
        g_loss = bce_logits(d_gen, 1.0)  # non-saturating generator loss
        step_optimizer(self.opt_g, g_loss)
        self.update_ema(step)
        return {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_real": torch.sigmoid(d_real.detach().float()).mean(),
            "d_fake": torch.sigmoid(d_fake.detach().float()).mean(),
        }
