"""Convolutional autoencoder with a Gaussian prior fitted to its training codes."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ModelConfig, TrainConfig
from .base import FaceModel
from .blocks import ConvDecoder, ConvEncoder, init_weights
from .objective import AutocastFactory, Objective, step_optimizer


class AutoencoderModel(FaceModel):
    """An AE has no prior of its own, so sampling uses N(mean, cov) fitted to the training codes."""

    family = "ae"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        r, w, d, x = config.resolution, config.width, config.latent_dim, config.extra_convs
        self.encoder = ConvEncoder(r, w, d, norm="batch", extra_convs=x)
        self.generator = ConvDecoder(d, r, w, extra_convs=x)
        init_weights(self)
        self.register_buffer("prior_mean", torch.zeros(d))
        self.register_buffer("prior_tril", torch.eye(d))  # Cholesky factor of the covariance

    def encode_tensor(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    @property
    def latent_mean(self) -> np.ndarray:
        return self.prior_mean.detach().float().cpu().numpy()

    def latent_from_noise(self, noise: np.ndarray) -> np.ndarray:
        eps = torch.as_tensor(np.asarray(noise, np.float32))
        mean = self.prior_mean.detach().float().cpu()
        tril = self.prior_tril.detach().float().cpu()
        return (mean + eps @ tril.T).numpy().astype(np.float32)

    def fit_prior(self, codes: np.ndarray) -> None:
        """Fit mean and covariance to ``codes`` (N, D); a small ridge keeps it positive definite."""
        codes = np.asarray(codes, np.float64)
        mean = codes.mean(0)
        cov = np.cov(codes, rowvar=False) if len(codes) > 1 else np.eye(codes.shape[1])
        cov = cov + np.eye(cov.shape[0]) * max(1e-6, 1e-4 * float(np.trace(cov)) / cov.shape[0])
        tril = np.linalg.cholesky(cov)
        self.prior_mean.copy_(torch.from_numpy(mean).float())
        self.prior_tril.copy_(torch.from_numpy(tril).float())


class AutoencoderObjective(Objective):
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

    def fit_prior(self, images: torch.Tensor, limit: int | None = None) -> None:
        """Fit the sampling prior to the codes of (up to ``limit`` evenly spread) training faces."""
        model: AutoencoderModel = self.model  # type: ignore[assignment]
        if limit is not None and len(images) > limit:
            images = images[torch.linspace(0, len(images) - 1, limit).long().to(images.device)]
        model.fit_prior(model.encode(images.cpu().numpy(), precision="fp32"))

    def finish(self, images: torch.Tensor) -> bool:
        self.fit_prior(images)
        return True

    def before_save(self, images: torch.Tensor) -> None:
        # A subset keeps mid-run checkpoints cheap on a CPU; the final fit uses every face.
        self.fit_prior(images, limit=2048)
