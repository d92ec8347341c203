"""Frozen configuration dataclasses: what a model is, how it is trained, what data it sees.

A checkpoint stores ``ModelConfig.to_dict()``; ``ModelConfig.from_dict`` rebuilds the exact
architecture from it (nanoGPT's ``model_args`` idea), refusing keys it does not know.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

FAMILIES: tuple[str, ...] = ("ae", "vae", "dcgan", "wgan-gp")
ENCODER_FAMILIES: tuple[str, ...] = ("ae", "vae")
GAN_FAMILIES: tuple[str, ...] = ("dcgan", "wgan-gp")
RESOLUTIONS: tuple[int, ...] = (32, 64)
KL_SCHEDULES: tuple[str, ...] = ("constant", "linear", "cyclical")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
SPLITS: tuple[str, ...] = ("all", "train", "val")
AUGMENTATIONS: tuple[str, ...] = ("color", "translation", "cutout")


def parse_augment_policy(text: str) -> tuple[str, ...]:
    """'color,translation' -> ('color', 'translation'); '' or 'none' -> (). Raises ValueError."""
    if text.strip().lower() in ("", "none"):
        return ()
    parts = tuple(p.strip().lower() for p in text.split(",") if p.strip())
    unknown = [p for p in parts if p not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(AUGMENTATIONS)}")
    return parts


def _from_dict(cls: type, data: dict[str, Any], what: str) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {what} setting(s): {', '.join(unknown)}")
    values = dict(data)
    for f in dataclasses.fields(cls):
        # JSON has no tuples: turn stored lists back into the tuple fields they came from.
        if f.name in values and isinstance(values[f.name], list):
            values[f.name] = tuple(values[f.name])
    try:
        return cls(**values)
    except TypeError as err:  # a required field is missing
        raise ConfigError(f"incomplete {what} settings: {err}") from None


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one model. Enough to rebuild it from a checkpoint."""

    family: str
    resolution: int = 64
    latent_dim: int = 128
    width: int = 64  # channels of the last (highest-resolution) conv block; x2 per halving
    extra_convs: int = 0  # 3x3 conv layers added after each resolution change (capacity)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"unknown model family {self.family!r}; choose one of {', '.join(FAMILIES)}")
        if self.resolution not in RESOLUTIONS:
            raise ConfigError(f"resolution must be one of {RESOLUTIONS}, not {self.resolution}")
        if not 2 <= int(self.latent_dim) <= 4096:
            raise ConfigError(f"latent dim must be between 2 and 4096, not {self.latent_dim}")
        if not 4 <= int(self.width) <= 1024:
            raise ConfigError(f"width must be between 4 and 1024, not {self.width}")
        if not 0 <= int(self.extra_convs) <= 4:
            raise ConfigError(f"extra_convs must be between 0 and 4, not {self.extra_convs}")

    @property
    def has_encoder(self) -> bool:
        return self.family in ENCODER_FAMILIES

    @property
    def is_gan(self) -> bool:
        return self.family in GAN_FAMILIES

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, data, "model")


@dataclass(frozen=True)
class DataConfig:
    """Where training faces come from. ``source`` is a folder path or ``"builtin"``.

    ``split`` follows the shared convention: sort relative file paths and take every
    ``val_every``-th one (index % val_every == 0) as validation, the rest as training.
    """

    source: str = "builtin"
    resolution: int = 64
    split: str = "all"
    val_every: int = 10
    builtin_count: int = 2048

    def __post_init__(self) -> None:
        if self.resolution not in RESOLUTIONS:
            raise ConfigError(f"resolution must be one of {RESOLUTIONS}, not {self.resolution}")
        if self.split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}, not {self.split!r}")
        if self.val_every < 2:
            raise ConfigError("val_every must be at least 2")

    @property
    def is_builtin(self) -> bool:
        return self.source == "builtin"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataConfig:
        return _from_dict(cls, data, "data")


# Per-family defaults a user would expect; TrainConfig.for_family applies them.
_FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "ae": {"lr": 1e-3, "betas": (0.9, 0.999), "epochs": 30},
    "vae": {"lr": 1e-3, "betas": (0.9, 0.999), "epochs": 30},
    "dcgan": {"lr": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "epochs": 25},
    "wgan-gp": {"lr": 1e-4, "lr_d": 1e-4, "betas": (0.0, 0.9), "epochs": 40},
}


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. Loss settings for other families are ignored."""

    epochs: int = 20
    batch_size: int = 128
    max_steps: int = 0  # 0: no limit besides epochs
    max_minutes: float = 0.0  # wall-clock budget of this session of the run; 0: none
    lr: float = 2e-4  # generator / autoencoder learning rate
    lr_d: float = 2e-4  # discriminator / critic learning rate (two time-scale rule)
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 0.0
    lr_decay: str = "none"  # "cosine": anneal every learning rate to 0 over the planned steps (or max_minutes)
    # vae
    kl_beta: float = 1.0
    kl_schedule: str = "linear"
    kl_warmup_steps: int = 2000  # linear: steps from 0 to beta; cyclical: ramp part of a cycle
    kl_cycle_steps: int = 8000  # cyclical only: length of one cycle
    # dcgan: label smoothing targets (one-sided by default: Salimans et al. 2016)
    real_label: float = 0.9
    fake_label: float = 0.0
    d_norm: str = "batch"  # dcgan discriminator: "batch" (Radford et al.) or "spectral" (Miyato et al.)
    # wgan-gp
    n_critic: int = 5
    gp_weight: float = 10.0
    # gans: exponential moving average of generator weights used for sampling (0 disables)
    ema_decay: float = 0.999
    hflip: bool = True  # random horizontal flips (faces are roughly symmetric)
    # gans: differentiable augmentation of everything the discriminator sees, e.g. "color,translation"
    augment: str = "none"
    # runtime
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 on CUDA and on CPUs with native bf16, else fp32
    channels_last: bool = True
    compile: bool = False  # torch.compile the step modules (pays on GPUs for long runs)
    seed: int = 0
    log_every: int = 10
    sample_every: int = 500
    sample_count: int = 64  # fixed seeds 0..count-1 for the progress grid
    checkpoint_every: int = 0  # steps; 0: only at epoch ends and on stop
    checkpoint_minutes: float = 10.0  # also checkpoint when this much wall time passed
    # epoch-end checkpoints are skipped when the last one is younger than this (fast GPUs finish
    # an epoch every few seconds, and each save costs a batch-norm recalibration and a write)
    epoch_checkpoint_minutes: float = 0.0
    # timeline snapshots (fp16 weights in snapshots/): every this share of the planned steps (0: off)
    snapshot_fraction: float = 0.05
    snapshot_minutes: float = 10.0  # ... and at least this often in wall time (0: no time rule)
    max_snapshots: int = 40  # the oldest are thinned out evenly beyond this many

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError("epochs must be at least 1")
        if self.batch_size < 2:
            raise ConfigError("batch size must be at least 2")
        if self.max_steps < 0:
            raise ConfigError("max steps must not be negative")
        if self.max_minutes < 0:
            raise ConfigError("max minutes must not be negative")
        if self.lr <= 0 or self.lr_d <= 0:
            raise ConfigError("learning rates must be positive")
        if self.lr_decay not in ("none", "cosine"):
            raise ConfigError(f"lr decay must be 'none' or 'cosine', not {self.lr_decay!r}")
        if self.kl_schedule not in KL_SCHEDULES:
            raise ConfigError(f"kl schedule must be one of {KL_SCHEDULES}, not {self.kl_schedule!r}")
        if self.kl_beta < 0:
            raise ConfigError("kl beta must not be negative")
        if not (0.0 <= self.fake_label < self.real_label <= 1.0):
            raise ConfigError("label targets need 0 <= fake < real <= 1")
        if self.d_norm not in ("batch", "spectral"):
            raise ConfigError(f"discriminator norm must be 'batch' or 'spectral', not {self.d_norm!r}")
        try:
            parse_augment_policy(self.augment)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.epoch_checkpoint_minutes < 0 or self.checkpoint_minutes <= 0:
            raise ConfigError("checkpoint intervals must be positive")
        if self.n_critic < 1:
            raise ConfigError("n_critic must be at least 1")
        if not 0.0 <= self.snapshot_fraction <= 1.0 or self.snapshot_minutes < 0:
            raise ConfigError("snapshot fraction must be in [0, 1] and snapshot minutes must not be negative")
        if self.max_snapshots < 2:
            raise ConfigError("max snapshots must be at least 2 (the first and the newest)")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError("ema decay must be in [0, 1)")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")
        if self.sample_count < 1 or self.sample_every < 1 or self.log_every < 1:
            raise ConfigError("sample_count, sample_every and log_every must be at least 1")

    @classmethod
    def for_family(cls, family: str, **overrides: Any) -> TrainConfig:
        """Defaults that suit ``family``, with ``overrides`` (None values ignored) on top."""
        if family not in FAMILIES:
            raise ConfigError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
        values = dict(_FAMILY_DEFAULTS[family])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return _from_dict(cls, values, "training")

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, data, "training")


@dataclass(frozen=True)
class RunConfig:
    """Everything a run folder's ``config.json`` holds."""

    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "train": self.train.to_dict(), "data": self.data.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        try:
            return cls(
                model=ModelConfig.from_dict(data["model"]),
                train=TrainConfig.from_dict(data["train"]),
                data=DataConfig.from_dict(data["data"]),
            )
        except (KeyError, TypeError) as err:
            raise ConfigError(f"run config is missing a section: {err}") from None
