"""GAN training options the bundled checkpoints use: augmentation, spectral norm, schedules."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.core.helpers import run_config
from waifu_studio.core.config import TrainConfig
from waifu_studio.core.errors import ConfigError
from waifu_studio.core.models import augment as aug
from waifu_studio.core.training import Trainer, TrainingHooks


# ------------------------------------------------------------------ augmentation
def test_translation_moves_each_image_by_whole_pixels_and_fills_with_grey(monkeypatch):
    image = torch.arange(64.0).reshape(1, 1, 8, 8)
    shifts = iter([torch.tensor([[1]]), torch.tensor([[-2]])])  # dy = +1 (down), dx = -2 (left)
    monkeypatch.setattr(torch, "randint", lambda *a, **k: next(shifts))
    out = aug._translation(image, ratio=0.25)[0, 0]
    assert torch.equal(out[0], torch.zeros(8))  # the uncovered top row is 0, the middle grey of [-1, 1]
    assert torch.equal(out[1:, :6], image[0, 0, :7, 2:])  # everything else moved down 1, left 2
    assert torch.equal(out[:, 6:], torch.zeros(8, 2))


def test_cutout_blanks_one_square_per_image():
    torch.manual_seed(0)
    x = torch.ones(16, 3, 16, 16)
    out = aug._cutout(x, ratio=0.5)
    blanked = (out == 0).all(dim=1).sum(dim=(1, 2))
    assert (blanked > 0).all() and (blanked <= 64).all()  # at most an 8x8 square, clipped at borders
    assert ((out == 0) | (out == 1)).all()


def test_augmentation_keeps_gradients_layout_and_is_identity_without_policy():
    x = (torch.rand(4, 3, 16, 16) * 2 - 1).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    assert aug.augment(x, ()) is x
    y = aug.augment(x, ("color", "translation", "cutout"))
    assert y.shape == x.shape and y.is_contiguous(memory_format=torch.channels_last)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # G learns through the augmentation


def test_unknown_augmentation_and_norm_are_refused():
    with pytest.raises(ConfigError, match="augment: unknown 'blur'"):
        TrainConfig(augment="color,blur")
    with pytest.raises(ConfigError, match="d_norm: expected one of batch, spectral"):
        TrainConfig(d_norm="layer")
    assert TrainConfig(augment="Color, translation").augment  # case and spaces are forgiven


# ------------------------------------------------------------ spectral norm + resume
def _weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_spectral_norm_dcgan_with_augmentation_resumes_exactly(tmp_path, faces32):
    opts = dict(d_norm="spectral", augment="color,translation,cutout")
    straight = Trainer(run_config("dcgan", max_steps=12, **opts), faces32, tmp_path / "a")
    straight.run()
    d = straight.objective.trained_modules["d"]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert any("parametrizations.weight" in k for k in d.state_dict())

    Trainer(run_config("dcgan", max_steps=6, **opts), faces32, tmp_path / "b").run()
    resumed = Trainer(run_config("dcgan", max_steps=12, **opts), faces32, tmp_path / "b", resume=True)
    resumed.run()
    expected = _weights(straight.model)
    for name, tensor in _weights(resumed.model).items():
        torch.testing.assert_close(tensor, expected[name], msg=f"{name} differs after resume")
    for name, tensor in _weights(resumed.objective.trained_modules["d"]).items():
        torch.testing.assert_close(tensor, _weights(d)[name], msg=f"D {name} differs after resume")


def test_augmented_wgan_gp_trains_with_finite_losses(tmp_path, faces32):
    trainer = Trainer(run_config("wgan-gp", max_steps=8, n_critic=2, augment="translation,cutout"),
                      faces32, tmp_path / "run")
    trainer.run()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows and all(np.isfinite(r["critic_loss"]) and np.isfinite(r["gp"]) for r in rows)


# ------------------------------------------------------------------- schedules
def test_cosine_schedule_follows_the_time_budget_when_it_ends_first(tmp_path, faces32, monkeypatch):
    """A run planned for many epochs but capped at N minutes still anneals its LR to ~0 by then."""
    clock = [1000.0]
    monkeypatch.setattr("waifu_studio.core.training.trainer.time.perf_counter", lambda: clock[0])
    scales = []
    hooks = TrainingHooks()

    def on_metrics(m):
        clock[0] += 6.0  # every logged step "takes" 6 s of a 60 s budget
        scales.append(next(iter(trainer.objective._optimizers.values())).param_groups[0]["lr"] / 1e-3)

    hooks.on_metrics = on_metrics
    trainer = Trainer(run_config("ae", epochs=1000, lr=1e-3, lr_decay="cosine", max_minutes=1.0, log_every=1),
                      faces32, tmp_path / "run", hooks)
    trainer.run()
    assert trainer.step < trainer.total_steps  # stopped by the budget, not by the plan
    assert scales[0] > 0.95 and scales[-1] < 0.05 and scales == sorted(scales, reverse=True)


def test_epoch_checkpoints_are_throttled(tmp_path, faces32, monkeypatch):
    saves = []
    original = Trainer.save

    def counting_save(self, *args, **kwargs):
        saves.append(self.step)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "save", counting_save)
    # 256 faces / batch 32 = 8 steps per epoch; 24 steps = 3 epochs.
    Trainer(run_config("ae", max_steps=24), faces32, tmp_path / "every").run()
    assert saves == [8, 16, 24]
    saves.clear()
    Trainer(run_config("ae", max_steps=24, epoch_checkpoint_minutes=60), faces32, tmp_path / "throttled").run()
    assert saves == [24]  # only the final one; a stop or crash still saves (checkpoint_minutes applies too)


# --------------------------------------------------------------------------- CLI
def test_cli_stores_the_gan_options_in_the_run_config(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "waifu_studio", "train", "--model", "dcgan", "--data", "builtin",
           "--builtin-count", "64", "--resolution", "32", "--width", "8", "--latent-dim", "8", "--out", str(out),
           "--max-steps", "2", "--device", "cpu", "--d-norm", "spectral", "--augment", "color,translation",
           "--betas", "0.0", "0.9", "--epoch-checkpoint-minutes", "2", "--batch-size", "16"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=240)
    train = json.loads((out / "config.json").read_text())["train"]
    assert train["d_norm"] == "spectral" and train["augment"] == "color,translation"
    assert train["betas"] == [0.0, 0.9] and train["epoch_checkpoint_minutes"] == 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch._dynamo's own import warns
def test_compile_option_compiles_the_step_modules_in_place(tmp_path, faces32):
    trainer = Trainer(run_config("wgan-gp", max_steps=1, compile=True), faces32, tmp_path / "run")
    g, critic = trainer.objective.trained_modules["g"], trainer.objective.trained_modules["critic"]
    assert g._compiled_call_impl is not None  # the raw generator's forward is compiled
    assert critic._compiled_call_impl is None  # the gradient penalty needs a double backward
    assert trainer.model.generator._compiled_call_impl is None  # the EMA copy only samples
    assert not any("_orig_mod" in k for k in trainer.model.state_dict())  # checkpoint keys unchanged


def test_resuming_with_more_epochs_records_the_new_length(tmp_path, faces32):
    """A run trained longer keeps its new length: a later plain resume does not fall back to the old one."""
    from waifu_studio.core.training import read_run_config

    Trainer(run_config("ae", epochs=1), faces32, tmp_path / "run").run()
    longer = run_config("ae", epochs=3)
    Trainer(longer, faces32, tmp_path / "run", resume=True).run()
    stored = read_run_config(tmp_path / "run")
    assert stored.train.epochs == 3 and stored.model == longer.model
