"""Frozen configuration dataclasses: what a model is, how it is trained, what data it sees.

Every field is a declared setting (:mod:`.settings`): type, defaults, bounds, help, families,
what a resume may do with it, its ``train`` flag and its place in the app's form, all here and
nowhere else. A checkpoint stores ``ModelConfig.to_dict()``; ``ModelConfig.from_dict`` rebuilds
the exact architecture from it (nanoGPT's ``model_args`` idea), refusing anything it does not know.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import ConfigError
from .settings import RECORDED, SESSION, Setting, declared, from_mapping, setting, show, split_subset, validate_fields

FAMILIES: tuple[str, ...] = ("ae", "vae", "dcgan", "wgan-gp")
ENCODER_FAMILIES: tuple[str, ...] = ("ae", "vae")
GAN_FAMILIES: tuple[str, ...] = ("dcgan", "wgan-gp")
RESOLUTIONS: tuple[int, ...] = (32, 64)
KL_SCHEDULES: tuple[str, ...] = ("constant", "linear", "cyclical")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
SPLITS: tuple[str, ...] = ("all", "train", "val")
AUGMENTATIONS: tuple[str, ...] = ("color", "translation", "cutout")

# The groups settings are shown in (the app's form, the train command's --help), in order.
SETTING_GROUPS: tuple[str, ...] = ("Model", "Faces", "Length", "Optimiser", "VAE", "GAN", "Data", "Progress", "Runtime")

# Why a resumed run may not change a setting (told with the refusal).
_ARCHITECTURE = "the checkpoint's weights are built for it"
_DATA = "the run's data order and step count are built on its faces"
_RUN = "the run's data order and noise come from it"
_MAX_COUNT = 1_000_000_000  # steps, epochs, intervals: far past any run, far below overflow


def parse_augment_policy(text: str) -> tuple[str, ...]:
    """'color,translation' -> ('color', 'translation'); '' or 'none' -> (). Raises ValueError."""
    return split_subset(text, AUGMENTATIONS)


def _device_rule(text: str) -> str | None:
    if re.fullmatch(r"auto|cpu|mps|cuda(:\d{1,3})?", text.lower()):
        return None
    return f"unknown device {show(text)}; choose auto, cpu, cuda, cuda:N or mps"


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one model. Enough to rebuild it from a checkpoint."""

    SECTION: ClassVar[str] = "model"

    family: str = setting(kind=str, choices=FAMILIES, flag="--model", label="Family", group="Model",
                          help="model family", why_fixed=_ARCHITECTURE)
    resolution: int = setting(64, choices=RESOLUTIONS, label="Resolution", group="Model",
                              help="face size in pixels (default 64)", why_fixed=_ARCHITECTURE)
    # Caps keep the largest model at 78M parameters (vae at 64 px, 313 MB in fp32): a config or a
    # checkpoint header cannot ask for gigabytes. The bundled models use latent 128-640, width 48-64.
    latent_dim: int = setting(128, minimum=2, maximum=1024, label="Latent dim", group="Model",
                              help="size of the latent code (default 128)", why_fixed=_ARCHITECTURE)
    width: int = setting(64, minimum=4, maximum=128, label="Width", group="Model",
                         help="channels of the highest-resolution conv block, x2 per halving (default 64)",
                         why_fixed=_ARCHITECTURE)
    extra_convs: int = setting(0, minimum=0, maximum=4, label="Extra convs", group="Model",
                               help="extra 3x3 convs after each resolution change (capacity; default 0)",
                               why_fixed=_ARCHITECTURE)

    def __post_init__(self) -> None:
        validate_fields(self)

    @property
    def has_encoder(self) -> bool:
        return self.family in ENCODER_FAMILIES

    @property
    def is_gan(self) -> bool:
        return self.family in GAN_FAMILIES

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ModelConfig:
        return from_mapping(cls, data, "model.")


@dataclass(frozen=True)
class DataConfig:
    """Where training faces come from. ``source`` is a folder path or ``"builtin"``.

    ``split`` follows the shared convention: sort relative file paths and take every
    ``val_every``-th one (index % val_every == 0) as validation, the rest as training.
    """

    SECTION: ClassVar[str] = "data"

    source: str = setting("builtin", flag="--data", metavar="DIR", group="Faces", why_fixed=_DATA,
                          help="folder of face images, or 'builtin' for the built-in demo faces")
    resolution: int = setting(64, choices=RESOLUTIONS, flag=None, why_fixed=_DATA,
                              help="the model's resolution (follows --resolution)")
    split: str = setting("all", choices=SPLITS, label="Faces used", group="Data", why_fixed=_DATA,
                         help="train on all faces, or the train/val part of the fixed split")
    val_every: int = setting(10, minimum=2, maximum=1000, flag=None, why_fixed=_DATA,
                             help="every n-th sorted file is validation (the fixed split)")
    # 50k faces at 64 px are 614 MB of uint8: the cap keeps a typo from asking for gigabytes.
    builtin_count: int = setting(2048, minimum=2, maximum=50_000, label="Built-in faces", group="Faces",
                                 why_fixed=_DATA, help="how many built-in faces to draw (default 2048)")

    def __post_init__(self) -> None:
        validate_fields(self)

    @property
    def is_builtin(self) -> bool:
        return self.source == "builtin"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> DataConfig:
        return from_mapping(cls, data, "data.")


_GAN, _VAE = GAN_FAMILIES, ("vae",)
_LR_LABELS = {"dcgan": "G learning rate", "wgan-gp": "G learning rate"}


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. Loss settings for other families are ignored."""

    SECTION: ClassVar[str] = "train"

    # ------------------------------------------------------------------ how long
    epochs: int = setting(20, minimum=1, maximum=_MAX_COUNT, label="Epochs", group="Length", resume=RECORDED,
                          family_defaults={"ae": 30, "vae": 30, "dcgan": 25, "wgan-gp": 40},
                          help="passes over the faces (family default)")
    max_steps: int = setting(0, minimum=0, maximum=_MAX_COUNT, label="Max steps", group="Length",
                             resume=RECORDED, zero_text="no limit", help="stop after this many steps (0: no limit)")
    max_minutes: float = setting(0.0, minimum=0, maximum=1e7, label="Max minutes", group="Length", resume=SESSION,
                                 zero_text="no limit",
                                 help="stop (with a checkpoint) after this much wall time in this session (0: none)")
    batch_size: int = setting(128, minimum=2, maximum=4096, label="Batch size", group="Length",
                              why_fixed="the run's steps per epoch and data order depend on it",
                              help="faces per step (default 128)")
    # ------------------------------------------------------------------ optimiser
    lr: float = setting(2e-4, minimum=0, exclusive_minimum=True, maximum=1, label="Learning rate", group="Optimiser",
                        family_labels=_LR_LABELS, resume=RECORDED, decimals=6,
                        family_defaults={"ae": 1e-3, "vae": 1e-3, "dcgan": 2e-4, "wgan-gp": 1e-4},
                        help="generator / autoencoder learning rate (family default)")
    lr_d: float = setting(2e-4, minimum=0, exclusive_minimum=True, maximum=1, label="D learning rate",
                          group="Optimiser", families=_GAN, family_labels={"wgan-gp": "Critic learning rate"},
                          resume=RECORDED, decimals=6, family_defaults={"dcgan": 2e-4, "wgan-gp": 1e-4},
                          help="gans: discriminator / critic learning rate (family default)")
    betas: tuple[float, float] = setting(
        (0.5, 0.999), minimum=0, maximum=1, exclusive_maximum=True, length=2, metavar=("B1", "B2"),
        label="Adam betas", group="Optimiser", resume=RECORDED,
        family_defaults={"ae": (0.9, 0.999), "vae": (0.9, 0.999), "dcgan": (0.5, 0.999), "wgan-gp": (0.0, 0.9)},
        help="Adam betas (family default)")
    weight_decay: float = setting(0.0, minimum=0, maximum=1, label="Weight decay", group="Optimiser",
                                  resume=RECORDED, decimals=6, help="Adam weight decay (default 0)")
    lr_decay: str = setting("none", choices=("none", "cosine"), label="LR schedule", group="Optimiser",
                            resume=RECORDED, help="cosine: anneal every learning rate to 0 over the planned "
                            "steps, or by --max-minutes if that comes first (default none)")
    # ------------------------------------------------------------------ vae
    kl_beta: float = setting(1.0, minimum=0, maximum=1000, label="KL beta", group="VAE", families=_VAE,
                             resume=RECORDED, help="vae: weight of the KL term (default 1)")
    kl_schedule: str = setting("linear", choices=KL_SCHEDULES, label="KL schedule", group="VAE", families=_VAE,
                               resume=RECORDED, help="vae: KL annealing (default linear)")
    kl_warmup_steps: int = setting(2000, minimum=0, maximum=_MAX_COUNT, flag="--kl-warmup", label="KL warm-up steps",
                                   group="VAE", families=_VAE, resume=RECORDED,
                                   help="vae: steps from 0 to beta (linear), or the ramp of a cycle (cyclical)")
    kl_cycle_steps: int = setting(8000, minimum=1, maximum=_MAX_COUNT, flag="--kl-cycle", label="KL cycle steps",
                                  group="VAE", families=_VAE, resume=RECORDED,
                                  help="vae: steps per cycle of the cyclical schedule")
    # ------------------------------------------------------------------ gans
    # dcgan label smoothing targets (one-sided by default: Salimans et al. 2016)
    real_label: float = setting(0.9, minimum=0, maximum=1, label="Real label target", group="GAN",
                                families=("dcgan",), resume=RECORDED,
                                help="dcgan: target for real images (default 0.9)")
    fake_label: float = setting(0.0, minimum=0, maximum=1, label="Fake label target", group="GAN",
                                families=("dcgan",), resume=RECORDED,
                                help="dcgan: target for generated images (default 0.0)")
    d_norm: str = setting("batch", choices=("batch", "spectral"), label="D normalisation", group="GAN",
                          families=("dcgan",), why_fixed="the discriminator's weights are built for it",
                          help="dcgan: discriminator normalisation (default batch; spectral is steadier)")
    n_critic: int = setting(5, minimum=1, maximum=100, label="Critic steps", group="GAN", families=("wgan-gp",),
                            resume=RECORDED, help="wgan-gp: critic steps per generator step (default 5)")
    gp_weight: float = setting(10.0, minimum=0, maximum=1000, label="GP weight", group="GAN", families=("wgan-gp",),
                               resume=RECORDED, help="wgan-gp: gradient penalty weight (default 10)")
    ema_decay: float = setting(0.999, minimum=0, maximum=1, exclusive_maximum=True, flag="--ema", label="EMA decay",
                               group="GAN", families=_GAN, decimals=5, zero_text="off",
                               why_fixed="the checkpoint's averaged generator (or its absence) depends on it",
                               help="gans: EMA decay of the generator weights used for samples (0 disables; "
                               "default 0.999)")
    augment: str = setting("none", metavar="POLICY", label="D augmentation", group="GAN", families=_GAN,
                           resume=RECORDED, subset_of=AUGMENTATIONS,
                           help="gans: differentiable augmentation of what D sees, e.g. color,translation,cutout "
                           "(default none; helps on small sets and long runs)")
    hflip: bool = setting(True, label="Random flips", group="Data", resume=RECORDED,
                          help="random horizontal flips (faces are roughly symmetric; --no-hflip turns them off)")
    # ------------------------------------------------------------------ progress and checkpoints
    log_every: int = setting(10, minimum=1, maximum=_MAX_COUNT, label="Log every (steps)", group="Progress",
                             resume=RECORDED, help="steps between metric rows (default 10)")
    sample_every: int = setting(500, minimum=1, maximum=_MAX_COUNT, label="Sample every (steps)", group="Progress",
                                resume=RECORDED, gui_default=100,
                                gui_why="the app shows the grid live: 500 steps leave it unchanged for minutes "
                                "on a CPU",
                                help="steps between fixed-seed sample grids (default 500; 100 in the app)")
    sample_count: int = setting(64, minimum=1, maximum=256, label="Sample faces", group="Progress", resume=RECORDED,
                                help="faces in the sample grid: seeds 0..count-1 (default 64)")
    checkpoint_every: int = setting(0, minimum=0, maximum=_MAX_COUNT, label="Checkpoint steps",
                                    group="Progress", resume=RECORDED, zero_text="epoch ends only",
                                    help="steps between checkpoints besides epoch ends (0: epoch ends only)")
    checkpoint_minutes: float = setting(10.0, minimum=0, exclusive_minimum=True, maximum=1e7,
                                        label="Checkpoint minutes", group="Progress", resume=RECORDED,
                                        help="also checkpoint when this much wall time passed (default 10)")
    # fast GPUs finish an epoch every few seconds, and each save costs a batch-norm recalibration and a write
    epoch_checkpoint_minutes: float = setting(0.0, minimum=0, maximum=1e7, label="Epoch save gap (min)",
                                              group="Progress", resume=RECORDED, zero_text="every epoch",
                                              help="skip epoch-end checkpoints younger than this "
                                              "(default 0: every epoch)")
    # timeline snapshots: fp16 weights in snapshots/ that the Timeline tab scrubs through
    snapshot_fraction: float = setting(0.05, minimum=0, maximum=1, label="Snapshot share", group="Progress",
                                       resume=RECORDED, zero_text="off",
                                       help="timeline: fp16 snapshot every this share of the planned steps "
                                       "(default 0.05; 0: off)")
    snapshot_minutes: float = setting(10.0, minimum=0, maximum=1e7, label="Snapshot minutes", group="Progress",
                                      resume=RECORDED, zero_text="no time rule",
                                      help="timeline: and at least every this many minutes "
                                      "(default 10; 0: no time rule)")
    # Each snapshot is the model in fp16 (up to 157 MB at the architecture caps): the cap bounds the disk a run takes.
    max_snapshots: int = setting(40, minimum=2, maximum=200, label="Max snapshots", group="Progress", resume=RECORDED,
                                 help="timeline: keep at most this many, thinned evenly (default 40)")
    # ------------------------------------------------------------------ runtime
    device: str = setting("auto", metavar="DEVICE", label="Device", group="Runtime", resume=SESSION, rule=_device_rule,
                          help="auto (default), cpu, cuda, cuda:N or mps")
    precision: str = setting("auto", choices=PRECISIONS, label="Precision", group="Runtime", resume=SESSION,
                             help="auto: bf16 on CUDA and on CPUs with native bf16, else fp32")
    channels_last: bool = setting(True, label="Channels-last", group="Runtime", resume=SESSION,
                                  help="NHWC memory format, faster convolutions (--no-channels-last keeps NCHW)")
    compile: bool = setting(False, label="torch.compile", group="Runtime", resume=SESSION,
                            help="torch.compile the conv stacks (experimental: failed on an H100 with channels_last)")
    seed: int = setting(0, minimum=0, maximum=2**31 - 1, label="Seed", group="Runtime", why_fixed=_RUN,
                        help="seed of initialisation and data order (default 0)")

    def __post_init__(self) -> None:
        validate_fields(self)
        if not self.fake_label < self.real_label:
            raise ConfigError(f"label targets need fake < real, got fake {self.fake_label} and real {self.real_label}")

    @classmethod
    def for_family(cls, family: str, **overrides: Any) -> TrainConfig:
        """Defaults that suit ``family``, with ``overrides`` (None values ignored) on top."""
        if family not in FAMILIES:
            raise ConfigError(f"unknown model family {show(family)}; choose one of {', '.join(FAMILIES)}")
        values = {s.name: s.family_defaults[family] for s in declared(cls) if family in s.family_defaults}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return from_mapping(cls, values, "")

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        return from_mapping(cls, data, "train.")


@dataclass(frozen=True)
class RunConfig:
    """Everything a run folder's ``config.json`` holds."""

    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "train": self.train.to_dict(), "data": self.data.to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> RunConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"a run config must be a JSON object, got {show(data)}")
        missing = [k for k in ("model", "train", "data") if k not in data]
        unknown = [k for k in data if k not in ("model", "train", "data")]
        if missing or unknown:
            raise ConfigError(f"run config sections must be model, train and data; "
                              f"{'missing ' + ', '.join(missing) if missing else 'unknown ' + show(unknown)}")
        model = ModelConfig.from_dict(data["model"])
        train = TrainConfig.from_dict(data["train"])
        data_config = DataConfig.from_dict(data["data"])
        if data_config.resolution != model.resolution:
            raise ConfigError(f"data.resolution {data_config.resolution} differs from model.resolution "
                              f"{model.resolution}")
        return cls(model, train, data_config)


# Every declared setting, model first: what the train command, the app's form and resume read.
SETTINGS: tuple[Setting, ...] = (*declared(ModelConfig), *declared(TrainConfig), *declared(DataConfig))


def setting_named(name: str, section: str | None = None) -> Setting:
    """The declaration of ``name`` (``section`` tells data.resolution from model.resolution)."""
    for decl in SETTINGS:
        if decl.name == name and (section is None or decl.section == section):
            return decl
    raise KeyError(name)
