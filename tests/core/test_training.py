"""The trainer as a user sees it: losses go down, KL is annealed, runs stop and resume exactly."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from tests.core.helpers import run_config
from waifu_studio.core.config import TrainConfig
from waifu_studio.core.errors import NonFiniteLossError, TrainingError
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.training import Trainer, TrainingHooks, read_metrics


def test_autoencoder_reconstruction_error_drops(tmp_path, faces32):
    trainer = Trainer(run_config("ae", max_steps=200, lr=2e-3, log_every=10), faces32, tmp_path / "run")
    trainer.run()
    rows = read_metrics(tmp_path / "run")
    first, last = rows[0]["recon"], rows[-1]["recon"]
    assert last < 0.5 * first, (first, last)
    # The finished AE samples through a fitted prior, not N(0, I).
    model = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert not np.allclose(model.latent_mean, 0)


def test_vae_logs_kl_and_anneals_beta(tmp_path, faces32):
    cfg = run_config("vae", max_steps=40, kl_beta=0.5, kl_schedule="linear", kl_warmup_steps=20)
    Trainer(cfg, faces32, tmp_path / "run").run()
    rows = read_metrics(tmp_path / "run")
    betas = [r["beta"] for r in rows]
    assert all("kl" in r and np.isfinite(r["kl"]) for r in rows)
    assert betas[0] < betas[-1] and betas[-1] == pytest.approx(0.5)
    assert betas == sorted(betas)


def test_cyclical_kl_schedule_repeats():
    from waifu_studio.core.models.vae import kl_weight

    cfg = TrainConfig.for_family("vae", kl_beta=1.0, kl_schedule="cyclical", kl_cycle_steps=100)
    values = [kl_weight(cfg, s) for s in range(0, 300, 25)]
    assert values[0] == 0.0 and values[2] == 1.0 and values[4] == 0.0 and values[6] == 1.0


@pytest.mark.parametrize("family", ["dcgan", "wgan-gp"])
def test_gan_losses_are_finite_and_samples_reported(tmp_path, faces32, family):
    samples = []
    hooks = TrainingHooks(on_sample=lambda step, faces: samples.append((step, faces.shape)))
    Trainer(run_config(family, max_steps=12, sample_every=6, n_critic=2), faces32, tmp_path / "run", hooks).run()
    rows = read_metrics(tmp_path / "run")
    assert rows and all(np.isfinite(v) for r in rows for k, v in r.items() if isinstance(v, float))
    # 0, the first log (5), every 6 steps, and the last step's grid once, after the final save (whose
    # batch-norm recalibration changes the faces).
    assert [s for s, _ in samples] == [0, 5, 6, 12] and samples[0][1] == (64, 32, 32, 3)
    assert len(list((tmp_path / "run" / "samples").glob("step_*.png"))) == 4


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_stopped_run_resumes_exactly_where_it_left_off(tmp_path, faces32):
    straight = Trainer(run_config("dcgan", max_steps=20), faces32, tmp_path / "a")
    straight.run()
    expected = _weights(straight.model)

    first = Trainer(run_config("dcgan", max_steps=10), faces32, tmp_path / "b")
    first.run()
    assert json.loads((tmp_path / "b" / "config.json").read_text())["model"]["family"] == "dcgan"
    resumed = Trainer(run_config("dcgan", max_steps=20), faces32, tmp_path / "b", resume=True)
    assert resumed.step == 10
    # Same optimizer state as when it stopped.
    opt_state = resumed.objective.state_dict()["optimizers"]["d"]["state"]
    assert int(opt_state[0]["step"]) == 10
    resumed.run()
    assert resumed.step == 20
    for name, tensor in _weights(resumed.model).items():
        torch.testing.assert_close(tensor, expected[name], msg=f"{name} differs after resume")
    steps = [r["step"] for r in read_metrics(tmp_path / "b")]
    assert steps == sorted(set(steps)) and steps[-1] == 20


def test_stop_event_saves_a_checkpoint(tmp_path, faces32):
    hooks = TrainingHooks()
    hooks.on_metrics = lambda m: hooks.stop.set() if m.step >= 5 else None
    result = Trainer(run_config("ae", max_steps=1000), faces32, tmp_path / "run", hooks).run()
    assert result.stopped and 5 <= result.steps < 1000
    assert load_checkpoint(result.checkpoint).family == "ae"


def test_pause_holds_the_step_counter(tmp_path, faces32):
    hooks = TrainingHooks()
    steps = []
    hooks.on_metrics = lambda m: steps.append(m.step)
    hooks.pause.set()
    trainer = Trainer(run_config("ae", max_steps=10), faces32, tmp_path / "run", hooks)
    thread = threading.Thread(target=trainer.run)
    thread.start()
    thread.join(timeout=1.0)
    assert thread.is_alive() and trainer.step == 0  # paused before the first step
    hooks.pause.clear()
    thread.join(timeout=120)
    assert not thread.is_alive() and trainer.step == 10


def test_non_finite_loss_stops_with_a_message_and_keeps_the_last_checkpoint(tmp_path, faces32, monkeypatch):
    trainer = Trainer(run_config("ae", max_steps=30, checkpoint_every=5), faces32, tmp_path / "run")
    original = trainer.objective.train_step

    def poisoned(real, step, autocast):
        losses = original(real, step, autocast)
        return {k: v * float("nan") for k, v in losses.items()} if step >= 12 else losses

    monkeypatch.setattr(trainer.objective, "train_step", poisoned)
    with pytest.raises(NonFiniteLossError, match="NaN or infinite"):
        trainer.run()
    model = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert model.checkpoint_info.training["steps"] == 10


def test_reusing_a_run_folder_without_resume_is_refused(tmp_path, faces32):
    Trainer(run_config("ae", max_steps=2), faces32, tmp_path / "run").run()
    with pytest.raises(TrainingError, match="--resume"):
        Trainer(run_config("ae", max_steps=2), faces32, tmp_path / "run")


def test_torn_metrics_line_is_skipped(tmp_path, faces32):
    Trainer(run_config("ae", max_steps=10), faces32, tmp_path / "run").run()
    with open(tmp_path / "run" / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 11, "rec')
    rows = read_metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == [5, 10]
