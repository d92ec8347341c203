"""The one face every model family shows to the rest of the program.

Callers hand in and get back plain numpy: uint8 HxWx3 images and float32 latents. Tensors in
[-1, 1] NCHW exist only inside the core (training, inversion).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..config import ModelConfig
from ..errors import WaifuError
from .inference import (
    ENCODE_BATCH,
    FoldedDecoder,
    FoldedEncoder,
    InferenceCache,
    build_folded_decoder,
    build_folded_encoder,
    inference_dtype,
)
from .prior import PRIOR_PREFIX, MixturePrior
from .seeds import seeds_to_noise


def images_to_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NxHxWx3 -> float32 Nx3xHxW in [-1, 1]."""
    if isinstance(images, np.ndarray) and not images.flags.writeable:
        images = images.copy()  # read-only arrays (cache mmaps, PIL views) can't back a tensor
    t = torch.as_tensor(images)
    if t.dtype != torch.uint8 or t.ndim != 4 or t.shape[-1] != 3:
        raise WaifuError(f"expected uint8 images of shape (N, H, W, 3), got {tuple(t.shape)} {t.dtype}")
    return t.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def tensor_to_images(x: torch.Tensor) -> np.ndarray:
    """float Nx3xHxW in [-1, 1] -> uint8 NxHxWx3 (rounded, clipped)."""
    x = x.detach().float().clamp(-1.0, 1.0).add(1.0).mul(127.5).round_()
    return x.to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()


class FaceModel(nn.Module):
    """Base of the four families. Subclasses set ``self.generator`` (z -> image in [-1, 1])."""

    family: str = ""
    # "auto" (on a CPU: bf16 where ``devices.cpu_uses_bf16()``, else fp32; on a GPU: the model's
    # dtype), "fp32" or "bf16": the precision of the inference-only copies that ``decode`` and
    # ``encode`` use (see ``inference.py``).
    decode_precision: str = "auto"
    encode_precision: str = "auto"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.generator: nn.Module
        self._inference = InferenceCache()  # a plain object, not a submodule: never trained or saved
        self._file_inference = InferenceCache()  # the fp32 copy files are decoded with (decode_exact)
        # The sampling prior fitted to the codes of an AE or VAE (``attach_prior``); None: N(0, I).
        self.prior: MixturePrior | None = None

    def attach_prior(self) -> None:
        """Sample through a prior fitted to this model's codes (AE, VAE), in any form a checkpoint holds."""
        self.prior = MixturePrior(self.latent_dim)
        self.register_load_state_dict_pre_hook(_adapt_prior_state)

    def prepare_state(self, state: dict[str, torch.Tensor]) -> None:
        """Bring a stored state dict (changed in place) and this model's buffers to the same layout.

        A prior's shape depends on its fit, and older files store it differently; see ``prior.py``.
        """
        if self.prior is not None:
            self.prior.adapt_state(state)

    def train(self, mode: bool = True) -> FaceModel:
        if mode:  # training changes the weights; the folded copies would go stale
            self._inference.clear()
            self._file_inference.clear()
        return super().train(mode)

    # ----------------------------------------------------------------- facts
    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    @property
    def resolution(self) -> int:
        return int(self.config.resolution)

    @property
    def has_encoder(self) -> bool:
        return self.config.has_encoder

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs on this model's device and in its dtype (a model may be loaded as bf16)."""
        return x.to(self.device, self.dtype)

    @property
    def latent_mean(self) -> np.ndarray:
        """Centre of the latent distribution: the fitted prior's mean, or the origin."""
        if self.prior is not None:
            return self.prior.mean
        return np.zeros(self.latent_dim, np.float32)

    def images_to_tensor(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        return images_to_tensor(images)

    # ----------------------------------------------------------- generation
    def latent_from_noise(self, noise: np.ndarray, picks: np.ndarray | None = None) -> np.ndarray:
        """Map standard-normal noise (N, D) to this model's latent space (identity without a prior).

        ``picks`` are the seeds' uniform numbers that choose a mixture prior's component.
        """
        if self.prior is not None:
            return self.prior.latents(noise, picks)
        return np.asarray(noise, np.float32)

    def seeds_to_latents(self, seeds: Sequence[int] | range, truncation: float = 1.0) -> np.ndarray:
        """Latents of ``seeds``; ``truncation`` < 1 pulls them towards the centre (less variety, cleaner faces).

        With a mixture prior the seed picks a component and truncation shrinks the noise within
        it, towards that component's mean.
        """
        noise, picks = seeds_to_noise(list(seeds), self.latent_dim)
        return self.latent_from_noise(noise * np.float32(truncation), picks)

    def decode_tensor(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (N, D) on ``self.device`` -> images (N, 3, H, W) in [-1, 1]; differentiable."""
        return self.generator(z)

    def folded_decoder(self) -> FoldedDecoder | None:
        """The inference-only copy ``decode`` uses (batch norm folded, channels_last), or None.

        None while the model (or its generator) is in train mode, or when the generator has
        layers that cannot be folded: ``decode`` then runs the original modules.
        """
        return self._folded_decoder_in(self._inference, self.decode_precision)

    def _folded_decoder_in(self, cache: InferenceCache, precision: str) -> FoldedDecoder | None:
        if self.training or self.generator.training:
            return None
        dtype = inference_dtype(self.dtype, self.device, precision)
        return cache.get("decoder", self.generator, dtype, lambda: build_folded_decoder(self.generator, dtype))

    def folded_encoder(self, precision: str | None = None) -> FoldedEncoder | None:
        """The inference-only copy ``encode`` uses (batch norm folded, channels_last), or None.

        ``precision`` defaults to ``encode_precision``. None without an encoder, in train mode,
        or when the encoder cannot be folded.
        """
        encoder = getattr(self, "encoder", None)
        if not self.has_encoder or encoder is None or self.training or encoder.training:
            return None
        dtype = inference_dtype(self.dtype, self.device, precision or self.encode_precision)
        return self._inference.get("encoder", encoder, dtype,
                                   lambda: build_folded_encoder(encoder, dtype, self.resolution))

    def codes_from_encoder_output(self, output: torch.Tensor) -> torch.Tensor:
        """The latents in the encoder's raw output (N, F): all of it here; the VAE's posterior mean."""
        return output

    def decode(self, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Latents (N, D) or (D,) -> uint8 images (N, H, W, 3), in ``decode_precision`` (the display's)."""
        return self._decode_with(self._inference, self.decode_precision, z, batch_size)

    def decode_exact(self, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Latents -> uint8 images as every written file gets them: fp32, whatever ``decode_precision`` says.

        The display may decode in bf16 for speed (a few uint8 levels off fp32 on a few pixels);
        files are decoded here so that the app and the CLI write identical bytes on every machine.
        The fp32 copy is kept apart from the display's, so alternating the two rebuilds neither.
        """
        return self._decode_with(self._file_inference, "fp32", z, batch_size)

    @torch.no_grad()
    def _decode_with(self, cache: InferenceCache, precision: str, z: np.ndarray, batch_size: int) -> np.ndarray:
        z = np.asarray(z, np.float32)
        if z.ndim == 1:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise WaifuError(f"latents must have shape (N, {self.latent_dim}), got {z.shape}")
        if not len(z):
            return np.zeros((0, self.resolution, self.resolution, 3), np.uint8)
        folded = self._folded_decoder_in(cache, precision)
        if folded is not None:
            return cache.decode(folded, z, batch_size)
        was_training = self.training
        self.eval()
        try:
            out = [tensor_to_images(self.decode_tensor(self._to_model(torch.from_numpy(z[i:i + batch_size]))))
                   for i in range(0, len(z), batch_size)]
        finally:
            self.train(was_training)
        return np.concatenate(out) if out else np.zeros((0, self.resolution, self.resolution, 3), np.uint8)

    def sample(self, n: int, seed: int = 0, truncation: float = 1.0) -> np.ndarray:
        """Faces for seeds ``seed .. seed+n-1``: face i equals ``sample(1, seed+i)``."""
        return self.decode(self.seeds_to_latents(range(int(seed), int(seed) + int(n)), truncation))

    # -------------------------------------------------------------- encoding
    def encode_tensor(self, x: torch.Tensor) -> torch.Tensor:
        raise WaifuError(f"a {self.family} model has no encoder; invert images by optimisation instead")

    @torch.no_grad()
    def encode(self, images: np.ndarray, batch_size: int | None = None, precision: str | None = None) -> np.ndarray:
        """uint8 images (N, H, W, 3) -> float32 latents (N, D). AE and VAE only.

        ``batch_size``: faces per encoder call (default: the measured best, ``ENCODE_BATCH``).
        ``precision``: default ``encode_precision``; "fp32" for codes a fit is made from (the
        AE's prior), so that a checkpoint does not depend on the CPU that trained it.
        """
        batch_size = batch_size or ENCODE_BATCH
        if not self.has_encoder:
            self.encode_tensor(torch.zeros(0))  # raises the explanatory error
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.shape[1:3] != (self.resolution, self.resolution):
            raise WaifuError(f"images must be {self.resolution}x{self.resolution}, "
                             f"got {images.shape[1]}x{images.shape[2]}")
        folded = self.folded_encoder(precision) if images.dtype == np.uint8 and images.shape[-1] == 3 else None
        if folded is not None and len(images):
            return self._inference.encode(folded, images, batch_size, self.codes_from_encoder_output)
        was_training = self.training
        self.eval()
        try:
            out = [self.encode_tensor(self._to_model(images_to_tensor(images[i:i + batch_size]))).float().cpu().numpy()
                   for i in range(0, len(images), batch_size)]
        finally:
            self.train(was_training)
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.latent_dim), np.float32)

    def reconstruct(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Encode then decode: uint8 in, uint8 out (AE and VAE)."""
        return self.decode(self.encode(images, batch_size), batch_size)

    # ------------------------------------------------------------ checkpoint
    def inference_state_dict(self) -> dict[str, torch.Tensor]:
        """What a checkpoint stores: everything needed to sample, encode and decode."""
        return self.state_dict()


def _adapt_prior_state(module: FaceModel, state: dict, prefix: str, *_args: object) -> None:
    """load_state_dict pre-hook: resize the prior's buffers to the stored mixture (see ``prepare_state``)."""
    if module.prior is not None:
        module.prior.adapt_state(state, prefix + PRIOR_PREFIX)
