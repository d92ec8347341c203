"""The Timeline tab: each snapshot of a run shows its own faces, the losses up to its step, and it
follows a run that is still writing snapshots."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from waifu_studio.cli import main as cli_main
from waifu_studio.core.config import ModelConfig
from waifu_studio.core.io.checkpoint import load_checkpoint, save_checkpoint
from waifu_studio.core.io.recipe import read_recipe
from waifu_studio.core.models import build_model
from waifu_studio.core.training.snapshots import snapshot_path
from waifu_studio.ui.widgets.timeline import TimelinePanel


def write_snapshot(run_dir, step: int, init_seed: int):
    torch.manual_seed(init_seed)
    model = build_model(ModelConfig(family="dcgan", resolution=32, latent_dim=16, width=8)).eval()
    path = snapshot_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, path, dtype=torch.float16)
    return path


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "run"
    write_snapshot(run, 0, 1)
    write_snapshot(run, 50, 2)
    rows = [{"step": s, "total_steps": 100, "loss_g": 1.0 / s, "loss_d": 0.5} for s in range(10, 101, 10)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


@pytest.fixture
def panel(qtbot, session):
    widget = TimelinePanel(session)
    qtbot.addWidget(widget)
    widget.resize(1100, 800)
    widget.show()
    yield widget
    widget.close()


def test_each_snapshot_shows_its_own_faces_and_the_losses_so_far(qtbot, panel, run_dir):
    panel.open_run(run_dir)
    qtbot.waitUntil(lambda: panel.shown is not None and panel.shown.step == 50, timeout=10000)  # the newest first
    late = panel.grid.faces().copy()
    assert panel.plotted_points() == {"loss_d": 5, "loss_g": 5}  # rows logged up to step 50
    panel.slider.setValue(0)
    qtbot.waitUntil(lambda: panel.shown is not None and panel.shown.step == 0, timeout=10000)
    early = panel.grid.faces()
    assert not np.array_equal(early, late)
    model = load_checkpoint(snapshot_path(run_dir, 0))
    np.testing.assert_array_equal(early, model.decode(model.seeds_to_latents(range(16))))
    assert panel.plotted_points() == {"loss_d": 0, "loss_g": 0}
    assert "step 0 of 50" in panel.step_label.text()
    # At the first snapshot the axis still spans the run (not one centred on zero, with no SI scale).
    (x_low, x_high), _ = panel.plot.viewRange()
    assert x_low <= 0 < 50 <= x_high < 60
    assert "x0.001" not in panel.plot.getAxis("bottom").labelString()


def test_a_run_still_training_is_followed(qtbot, panel, run_dir):
    panel.open_run(run_dir)
    qtbot.waitUntil(lambda: panel.shown is not None and panel.shown.step == 50, timeout=10000)
    write_snapshot(run_dir, 100, 3)  # the run writes a new snapshot while it is watched
    panel.reload()
    qtbot.waitUntil(lambda: panel.shown is not None and panel.shown.step == 100, timeout=10000)
    assert panel.slider.maximum() == 2


def test_exported_timeline_gif_reproduces(qtbot, panel, run_dir, tmp_path):
    panel.open_run(run_dir)
    qtbot.waitUntil(lambda: panel.shown is not None, timeout=10000)
    gif = tmp_path / "timeline.gif"
    task = panel.export_gif(gif)
    qtbot.waitUntil(lambda: not task.is_running(), timeout=20000)
    recipe = read_recipe(gif)
    assert recipe["timeline"]["steps"] == [0, 50] and len(recipe["checkpoints"]) == 2
    copy = tmp_path / "copy.gif"
    assert cli_main(["reproduce", str(gif), "--checkpoint", str(run_dir), "--out", str(copy)]) == 0
    assert copy.read_bytes() == gif.read_bytes()
