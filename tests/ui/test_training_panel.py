"""The Training panel trains a tiny model live, pauses, stops with a checkpoint, reports errors, watches runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QTableWidget

from tests.ui.helpers import running_threads, tiny_training_panel
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.training import CHECKPOINT_NAME, Trainer
from waifu_studio.ui.widgets.training import TrainingPanel, ema_smooth, format_eta


@pytest.fixture
def panel(qtbot, session, tmp_path):
    widget = tiny_training_panel(qtbot, session, tmp_path / "run", sample_every=2)
    yield widget
    widget.shutdown()


def _step(panel: TrainingPanel) -> int:
    return panel.progress.value() if panel.progress.format().startswith("step") else 0


def test_start_trains_live_and_stop_saves_a_loadable_checkpoint(qtbot, panel, session, tmp_path):
    with qtbot.waitSignal(panel.sample_shown, timeout=30_000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.is_training() and not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: "d_loss" in panel.curve_names() and len(panel.curve_data("d_loss")[0]) >= 2, timeout=30_000)
    first = len(panel.curve_data("d_loss")[0])
    qtbot.waitUntil(lambda: len(panel.curve_data("d_loss")[0]) > first, timeout=30_000)
    x, y = panel.curve_data("d_loss")
    assert np.all(np.diff(x) > 0) and np.isfinite(y).all()
    assert _step(panel) > 0 and panel.progress.maximum() > _step(panel)
    with qtbot.waitSignal(panel.sample_shown, timeout=30_000):
        pass  # the grid keeps refreshing while training
    assert panel.grid_view.pixmap() is not None and not panel.grid_view.pixmap().isNull()

    with qtbot.waitSignals([panel.training_finished, session.training_checkpoint], timeout=30_000):
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert not panel.is_training() and panel.start_button.isEnabled()
    checkpoint = tmp_path / "run" / CHECKPOINT_NAME
    assert session.training_checkpoint_path == checkpoint
    model = load_checkpoint(checkpoint)
    assert model.config.family == "dcgan" and model.latent_dim == 16
    out = panel.export_png(tmp_path / "grid.png")
    with Image.open(out) as image:
        assert image.size[0] > 8 * 32  # an 8x8 grid of 32 px faces plus padding


def test_pause_freezes_the_step_count_and_resume_continues(qtbot, panel):
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _step(panel) >= 2, timeout=30_000)
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert panel.pause_button.text() == "Resume"
    qtbot.wait(1000)  # the step in flight finishes
    paused_at = _step(panel)
    qtbot.wait(1500)
    assert _step(panel) == paused_at
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert panel.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: _step(panel) > paused_at, timeout=30_000)
    assert panel.stop_and_wait(timeout_s=30)


def test_a_finished_run_trains_longer_after_raising_its_epochs(qtbot, panel, session, tmp_path, monkeypatch):
    run = tmp_path / "run"
    panel.set_field("epochs", 2)  # 64 faces / batch 16: 4 steps an epoch, 8 in all
    panel.set_field("ema_decay", 0.0)
    with qtbot.waitSignal(panel.training_finished, timeout=60_000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(panel.curve_data("d_loss")[0]) == 8, timeout=5000)
    assert _step(panel) == 8 == panel.progress.maximum()

    # "Resume run..." shows the run's settings; only the run's end may change.
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(run))
    with qtbot.waitSignal(panel.resume_ready, timeout=10_000):
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    assert panel.start_button.text() == "Resume training" and panel.start_button.isEnabled()
    assert panel.fields["epochs"].isEnabled() and panel.field_value("epochs") == 2
    assert not panel.fields["batch_size"].isEnabled() and not panel.family_combo.isEnabled()
    assert "8 steps trained" in panel.resume_label.text()

    # Fewer epochs than already trained: a clear message, nothing trained, still ready to resume.
    errors = []
    session.error_raised.connect(lambda title, message: errors.append(message))
    panel.set_field("epochs", 1)
    with qtbot.waitSignals([session.error_raised, panel.training_finished], timeout=60_000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert "already trained 8 steps" in errors[-1] and "Epochs to 3 or more" in errors[-1], errors
    assert load_checkpoint(run / CHECKPOINT_NAME).checkpoint_info.training["steps"] == 8
    assert panel.start_button.text() == "Resume training" and panel.fields["epochs"].isEnabled()

    panel.set_field("epochs", 4)
    with qtbot.waitSignal(panel.training_finished, timeout=60_000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert len(errors) == 1, errors
    assert _step(panel) == 16 == panel.progress.maximum()
    qtbot.waitUntil(lambda: len(panel.curve_data("d_loss")[0]) == 16, timeout=5000)
    assert list(panel.curve_data("d_loss")[0]) == list(range(1, 17))  # the old curve, then new points
    assert session.training_checkpoint_path == run / CHECKPOINT_NAME
    assert load_checkpoint(run / CHECKPOINT_NAME).checkpoint_info.training["steps"] == 16
    assert panel.start_button.text() == "Start" and panel.fields["batch_size"].isEnabled()


def test_out_of_memory_reports_a_smaller_batch_and_returns_to_idle(qtbot, panel, session, monkeypatch, started_threads):
    def out_of_memory(self):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "_batch", out_of_memory)
    errors = []
    session.error_raised.connect(lambda title, message: errors.append((title, message)))
    with qtbot.waitSignals([session.error_raised, panel.training_finished], timeout=30_000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    [(title, message)] = errors
    assert title == "Training stopped" and "batch size" in message
    assert not panel.is_training() and panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not running_threads(started_threads), timeout=5000)


def test_closing_during_training_stops_cleanly_with_a_checkpoint(qtbot, panel, tmp_path, started_threads):
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _step(panel) >= 1, timeout=30_000)
    assert panel.stop_and_wait(timeout_s=30)
    assert not panel.is_training()
    assert not running_threads(started_threads)
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT_NAME).config.family == "dcgan"


def test_attach_shows_a_cli_run_and_exports_a_timelapse(qtbot, panel, session, tmp_path):
    from waifu_studio.cli import main

    run = tmp_path / "cli-run"
    assert main(["train", "--model", "ae", "--data", "builtin", "--out", str(run), "--max-steps", "6",
                 "--batch-size", "16", "--resolution", "32", "--width", "8", "--latent-dim", "16",
                 "--builtin-count", "64", "--sample-every", "3", "--log-every", "1", "--device", "cpu"]) == 0
    with qtbot.waitSignals([panel.sample_shown, session.training_checkpoint], timeout=20_000):
        panel.attach_run(run)
    assert panel.attach_button.isChecked() and not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: "recon" in panel.curve_names() and len(panel.curve_data("recon")[0]) == 6, timeout=10_000)
    assert list(panel.curve_data("recon")[0]) == [1, 2, 3, 4, 5, 6]
    assert panel.progress.value() == 6 == panel.progress.maximum()
    assert session.training_checkpoint_path == run / CHECKPOINT_NAME

    with qtbot.waitSignal(panel.timelapse_written, timeout=20_000) as blocker:
        panel.export_timelapse(tmp_path / "timelapse.gif")
    with Image.open(Path(blocker.args[0])) as gif:
        # One frame per grid (steps 0, 1: the first log, 3, 6); the GIF writer merges two grids that
        # quantise to the same picture (step 0 and 1 of an AE barely differ).
        assert 3 <= gif.n_frames <= len(list((run / "samples").glob("step_*.png"))) == 4
    panel.detach()
    assert panel.start_button.isEnabled() and not panel.attach_button.isChecked()


def test_folder_scan_reports_skipped_files_with_reasons(qtbot, panel, tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"face{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with qtbot.waitSignal(panel.dataset_scanned, timeout=20_000):
        panel.set_dataset_folder(folder)
    assert panel.summary_label.text() == "3 faces, 1 skipped"
    assert panel.details_button.isEnabled()
    # Faces excluded on the latent map are left out and counted.
    from waifu_studio.core.data import exclude

    exclude(folder, ["face1.png"])
    with qtbot.waitSignal(panel.dataset_scanned, timeout=20_000):
        panel.set_dataset_folder(folder)
    assert panel.summary_label.text() == "2 faces, 1 skipped, 1 excluded by you"
    qtbot.mouseClick(panel.details_button, Qt.MouseButton.LeftButton)
    table = panel.details_dialog.findChild(QTableWidget)
    assert table.rowCount() == 1 and table.item(0, 0).text() == "broken.png" and table.item(0, 1).text()
    panel.details_dialog.close()


def test_form_shows_only_the_family_settings_with_its_defaults(panel):
    def visible(name):
        return panel.fields[name].isVisibleTo(panel)

    panel.family_combo.setCurrentText("vae")
    assert visible("kl_beta") and visible("kl_schedule") and not visible("n_critic") and not visible("ema_decay")
    panel.family_combo.setCurrentText("wgan-gp")
    assert visible("n_critic") and visible("gp_weight") and visible("ema_decay") and not visible("real_label")
    assert panel.field_value("lr") == pytest.approx(1e-4)
    config = panel.run_config()
    assert config.model.family == "wgan-gp" and config.model.width == 8 and config.train.batch_size == 16
    assert config.data.builtin_count == 64 and config.data.resolution == 32


def test_helpers():
    assert format_eta(3725) == "1:02:05" and format_eta(float("inf")) == "--"
    smoothed = ema_smooth(np.array([1.0, np.nan, 1.0, 3.0]))
    assert smoothed[0] == 1.0 and smoothed[1] == 1.0 and 1.0 < smoothed[3] < 3.0
