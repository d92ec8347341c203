"""Family name -> model class and objective class."""

from __future__ import annotations

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


def build_model(config: ModelConfig) -> FaceModel:
    """A freshly initialised model for ``config`` (on the CPU, fp32)."""
    try:
        model_cls, _ = _FAMILIES[config.family]
    except KeyError:
        raise ConfigError(f"unknown model family {config.family!r}") from None
    return model_cls(config)


def build_objective(model: FaceModel, config: TrainConfig) -> Objective:
    """The training objective of ``model``'s family (its extra modules on the model's device)."""
    _, objective_cls = _FAMILIES[model.config.family]
    return objective_cls(model, config)  # type: ignore[arg-type]
