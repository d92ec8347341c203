"""What a family does in one training step. The Trainer owns the loop; objectives own the losses.

An objective holds the modules that are trained but not shipped (discriminators, a GAN's raw
generator) and the optimizers, and can save and restore all of it for ``--resume``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from ..config import TrainConfig
from .base import FaceModel

AutocastFactory = Callable[[], contextlib.AbstractContextManager]


class Objective:
    """Base class: subclasses fill ``loss_names``, build modules/optimizers, and implement ``train_step``."""

    loss_names: tuple[str, ...] = ()

    def __init__(self, model: FaceModel, config: TrainConfig) -> None:
        self.model = model
        self.config = config
        self._modules: dict[str, nn.Module] = {}
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self._lrs: dict[str, float] = {}  # each optimizer's configured learning rate

    # modules and optimizers are registered by name so state_dict / DDP / train() see them all
    def add_module(self, name: str, module: nn.Module) -> nn.Module:
        self._modules[name] = module
        return module

    def add_optimizer(self, name: str, params: Iterator[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        kwargs: dict = {"lr": lr, "betas": tuple(self.config.betas), "weight_decay": self.config.weight_decay}
        if next(self.model.parameters()).is_cuda:
            kwargs["fused"] = True  # one kernel for the whole update on GPUs
        opt = torch.optim.Adam(params, **kwargs)
        self._optimizers[name] = opt
        self._lrs[name] = lr
        return opt

    def set_lr_scale(self, scale: float) -> None:
        """Scale every optimizer's learning rate relative to its configured value (LR schedules)."""
        for opt in self._optimizers.values():
            for group in opt.param_groups:
                group.setdefault("base_lr", group["lr"])
                group["lr"] = group["base_lr"] * scale

    @property
    def trained_modules(self) -> dict[str, nn.Module]:
        return dict(self._modules)

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self._optimizers)

    def compile_modules(self) -> None:
        """torch.compile, in place, the conv stacks a training step runs (state_dict keys unchanged).

        Skipped: the WGAN-GP critic (its gradient penalty needs a double backward, which compiled
        graphs do not support) and a GAN's averaged generator (it only samples, rarely).
        """
        from .blocks import ConvDecoder, ConvEncoder

        skip = set()
        critic = self.trained_modules.get("critic")
        if critic is not None:
            skip.update(id(m) for m in critic.modules())
        trained = self.trained_modules.values()
        if "g" in self.trained_modules and self.trained_modules["g"] is not getattr(
                self.model, "generator", None):
            skip.update(id(m) for m in self.model.generator.modules())
        seen = set()
        for root in [*trained, self.model]:
            for module in root.modules():
                if isinstance(module, ConvDecoder | ConvEncoder) and id(module) not in skip | seen:
                    seen.add(id(module))
                    module.compile()

    def train(self, mode: bool = True) -> None:
        for module in self._modules.values():
            module.train(mode)

    def train_step(self, real: torch.Tensor, step: int, autocast: AutocastFactory) -> dict[str, torch.Tensor]:
        """One batch of real images (N, 3, H, W) in [-1, 1]; returns detached scalar tensors by name."""
        raise NotImplementedError

    def finish(self, images: torch.Tensor) -> bool:
        """Called once when training ends normally, with the whole uint8 training tensor.

        Returns True if it changed what samples look like (the final grid is then redrawn).
        """
        return False

    def before_save(self, images: torch.Tensor) -> None:
        """Called before every checkpoint, so a checkpoint taken mid-run is usable on its own."""

    def state_dict(self) -> dict:
        return {
            "modules": {k: m.state_dict() for k, m in self._modules.items()},
            "optimizers": {k: o.state_dict() for k, o in self._optimizers.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        for k, m in self._modules.items():
            m.load_state_dict(state["modules"][k])
        for k, o in self._optimizers.items():
            o.load_state_dict(state["optimizers"][k])
            # A saved state carries the hyperparameters of the session that saved it; a resumed
            # session trains with its own (train --resume RUN --lr ...). LR schedules rescale from here.
            for group in o.param_groups:
                group.update(lr=self._lrs[k], betas=tuple(self.config.betas), weight_decay=self.config.weight_decay)
                group.pop("base_lr", None)


def step_optimizer(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
