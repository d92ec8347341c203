"""WGAN-GP (Gulrajani et al. 2017): a critic without batch norm, gradient penalty, n_critic steps."""

from __future__ import annotations

import torch

from ..config import TrainConfig, parse_augment_policy
from .augment import augment
from .blocks import ConvEncoder, init_weights
from .gan import GANModel, GANObjective
from .objective import AutocastFactory, step_optimizer


class WGANGPModel(GANModel):
    family = "wgan-gp"


class WGANGPObjective(GANObjective):
    """Each step trains the critic on one real batch; every n_critic-th step also trains G."""

    loss_names = ("critic_loss", "g_loss", "gp", "w_dist")

    def __init__(self, model: WGANGPModel, config: TrainConfig) -> None:
        super().__init__(model, config)
        c = model.config
        # Batch norm would couple the samples of a batch, which breaks the per-sample penalty.
        self.critic = self.add_module("critic", ConvEncoder(c.resolution, c.width, 1, norm="none"))
        init_weights(self.critic)
        self.critic.to(next(model.parameters()).device)
        self.opt_c = self.add_optimizer("critic", self.critic.parameters(), config.lr_d)
        self._last_g_loss: torch.Tensor | None = None
        self.policy = parse_augment_policy(config.augment)

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, autocast: AutocastFactory) -> torch.Tensor:
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        mixed = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
        with autocast():
            score = self.critic(mixed)
        (grad,) = torch.autograd.grad(score.float().sum(), mixed, create_graph=True)
        return (grad.float().flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()

    def train_step(self, real: torch.Tensor, step: int, autocast: AutocastFactory) -> dict[str, torch.Tensor]:
        cfg = self.config
        with torch.no_grad(), autocast():
            fake = self.g(self.noise(real.shape[0], real))
        fake = fake.float().contiguous(memory_format=torch.channels_last) if real.is_contiguous(
            memory_format=torch.channels_last) else fake.float()
        # The critic (and its penalty) sees augmented faces on both sides; G's gradients pass through.
        real, fake = augment(real, self.policy), augment(fake, self.policy)
        with autocast():
            c_real = self.critic(real).float().mean()
            c_fake = self.critic(fake).float().mean()
        gp = self.gradient_penalty(real, fake, autocast)
        w_dist = c_real - c_fake
        critic_loss = -w_dist + cfg.gp_weight * gp
        step_optimizer(self.opt_c, critic_loss)
        if step % cfg.n_critic == 0 or self._last_g_loss is None:
            with autocast():
                g_loss = -self.critic(augment(self.g(self.noise(real.shape[0], real)), self.policy)).float().mean()
            step_optimizer(self.opt_g, g_loss)
            self.update_ema(step // cfg.n_critic)
            self._last_g_loss = g_loss.detach()
        return {"critic_loss": critic_loss.detach(), "g_loss": self._last_g_loss, "gp": gp.detach(),
                "w_dist": w_dist.detach()}
