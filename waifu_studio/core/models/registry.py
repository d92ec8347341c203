"""Family name -> model class and objective class."""

from __future__ import annotations

import torch

from ..config import ModelConfig, TrainConfig
from ..errors import ConfigError
from .autoencoder import AutoencoderModel, AutoencoderObjective
from .base import FaceModel
from .dcgan import DCGANModel, DCGANObjective
from .objective import Objective
from .vae import VAEModel, VAEObjective
from .wgan_gp import WGANGPModel, WGANGPObjective

_FAMILIES: dict[str, tuple[type[FaceModel], type[Objective]]] = {
    "ae": (AutoencoderModel, AutoencoderObjective),
    "vae": (VAEModel, VAEObjective),
    "dcgan": (DCGANModel, DCGANObjective),
    "wgan-gp": (WGANGPModel, WGANGPObjective),
}


# The largest model Waifu Studio builds. The bundled ones have 7-19 M parameters; a width-256
# VAE with 4 extra convs per level, far past anything useful at 64 px, has 162 M. The cap keeps a
# stated config (a typo, a tampered checkpoint) from allocating many GB: 300 M fp32 parameters
# are 1.2 GB of weights, and training needs about four times that with Adam's moments.
MAX_PARAMETERS = 300_000_000


def _model_class(config: ModelConfig) -> type[FaceModel]:
    try:
        return _FAMILIES[config.family][0]
    except KeyError:
        raise ConfigError(f"unknown model family {config.family!r}") from None


def build_meta_model(config: ModelConfig) -> FaceModel:
    """The model for ``config`` on PyTorch's "meta" device: every tensor's shape, no storage.

    What a checkpoint's declared tensors are checked against before a single weight is read.
    Raises ``ConfigError`` when the architecture is larger than :data:`MAX_PARAMETERS`.
    """
    with torch.device("meta"):
        model = _model_class(config)(config)
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMETERS:
        raise ConfigError(f"the model would have {count / 1e6:,.0f} M parameters, more than the limit of "
                          f"{MAX_PARAMETERS / 1e6:,.0f} M; use a smaller width, latent dim or fewer extra convs")
    return model


def build_model(config: ModelConfig) -> FaceModel:
    """A freshly initialised model for ``config`` (on the CPU, fp32); refuses one over the size cap."""
    build_meta_model(config)  # the size check, before any memory is allocated
    return _model_class(config)(config)


def build_objective(model: FaceModel, config: TrainConfig) -> Objective:
    """The training objective of ``model``'s family (its extra modules on the model's device)."""
    _, objective_cls = _FAMILIES[model.config.family]
    return objective_cls(model, config)  # type: ignore[arg-type]
