"""Faults on checkpoint writes: a full disk or a read-only run folder stops training with a clear
message, and the previous checkpoint and resume state stay intact and usable."""

from __future__ import annotations

import os

import pytest
import torch

from waifu_studio.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from waifu_studio.core.data import builtin_faces
from waifu_studio.core.errors import TrainingError
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.training import CHECKPOINT_NAME, STATE_NAME, Trainer, TrainingHooks


@pytest.fixture(scope="module")
def faces():
    return builtin_faces(count=64, resolution=32, use_cache=False).images


def _config(**train) -> RunConfig:
    values = dict(batch_size=16, precision="fp32", log_every=1, sample_every=1000, device="cpu", checkpoint_every=2,
                  max_steps=20, sample_count=4)
    values.update(train)
    return RunConfig(ModelConfig(family="ae", resolution=32, latent_dim=16, width=8),
                     TrainConfig.for_family("ae", **values), DataConfig(resolution=32, builtin_count=64))


@pytest.mark.parametrize("call, errno, text", [
    ("fsync", 28, "No space left on device"),
    ("replace", 30, "Read-only file system"),
])
def test_failed_checkpoint_write_stops_with_a_message_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch, faces,
                                                                                        call, errno, text):
    run = tmp_path / "run"
    real = getattr(os, call)

    def failing(*args, **kwargs):
        raise OSError(errno, text)

    def on_checkpoint(path, step):
        if step == 4:  # the checkpoint after this one hits the fault
            monkeypatch.setattr(os, call, failing)

    trainer = Trainer(_config(), faces, run, TrainingHooks(on_checkpoint=on_checkpoint))
    with pytest.raises(TrainingError, match=f"could not save the checkpoint: .*{text}"):
        trainer.run()
    monkeypatch.setattr(os, call, real)
    assert trainer.step == 6
    model = load_checkpoint(run / CHECKPOINT_NAME)
    assert model.checkpoint_info.training["steps"] == 4
    assert int(torch.load(run / STATE_NAME, weights_only=True)["step"]) == 4
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")], "temp files left behind"
    # Once there is room again, the run resumes from the intact checkpoint.
    resumed = Trainer(_config(max_steps=8), faces, run, resume=True)
    assert resumed.step == 4
    assert resumed.run().steps == 8
