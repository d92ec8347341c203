"""Small training set-ups shared by the trainer tests."""

from __future__ import annotations

from waifu_studio.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig


def run_config(family, **train):
    """A 32 px, latent-16, width-8 run on the CPU in fp32; ``train`` overrides the training settings."""
    defaults = dict(batch_size=32, precision="fp32", log_every=5, sample_every=1000, device="cpu")
    defaults.update(train)
    return RunConfig(ModelConfig(family=family, resolution=32, latent_dim=16, width=8),
                     TrainConfig.for_family(family, **defaults), DataConfig(resolution=32))
