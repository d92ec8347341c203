"""Issue 10, bugs 6, 7 and 8: what the Train tab shows a new user.

6: the live view (first grid, progress bar, leftovers of the last run, ETA while paused, a
   one-point plot, smoothing beside the raw value, log-scale axis); 7: Start with no usable faces;
   8: attaching to a run folder shows that run's settings.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from tests.ui.helpers import tiny_training_panel
from waifu_studio.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from waifu_studio.core.io.files import atomic_write_bytes
from waifu_studio.core.training import CONFIG_NAME
from waifu_studio.ui.widgets.training_view import TrainingView


@pytest.fixture
def panel(qtbot, session, tmp_path):
    widget = tiny_training_panel(qtbot, session, tmp_path / "run")
    yield widget
    widget.shutdown()


def row(step: int, loss: float, **extra) -> dict:
    return {"step": step, "total_steps": 100, "epoch": 0, "epochs": 3, "images_per_sec": 22.0, "eta_s": 60.0,
            "loss": loss, **extra}


def test_a_short_run_shows_a_trained_grid_before_its_end_and_the_bar_counts_steps(qtbot, panel):
    # With "Sample every 100" (the default) a 500-epoch run showed the grey step-0 grid for good,
    # and the bar read "loading faces" while steps already ran.
    panel.set_field("sample_every", 100)
    steps = []
    panel.sample_shown.connect(steps.append)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(s > 0 for s in steps), timeout=60_000)
    assert 0 < max(steps) < 100  # sampled at the first log, long before step 100
    assert panel.progress.format().startswith("step")
    with qtbot.waitSignal(panel.training_finished, timeout=60_000):
        panel.stop_training()


def test_a_new_run_forgets_the_last_runs_progress_and_the_eta_stops_while_paused(qtbot):
    view = TrainingView()
    qtbot.addWidget(view)
    view.add_rows([row(100, 0.03, epoch=2)])
    assert view.eta_label.text() == "ETA 0:01:00"
    view.set_paused(True)
    assert view.eta_label.text() == "ETA paused"
    view.add_rows([row(101, 0.03)])
    assert view.eta_label.text() == "ETA paused"  # a row that was on its way does not restart the clock
    view.reset()  # a new run starts
    assert (view.epoch_label.text(), view.speed_label.text(), view.eta_label.text()) == ("epoch -", "- img/s", "ETA --")
    assert "none yet" in view.grid_label.text()


def test_one_point_is_drawn_near_its_step_and_the_raw_value_is_shown_beside_the_smoothed_curve(qtbot):
    view = TrainingView()
    qtbot.addWidget(view)
    view.resize(800, 500)
    view.show()
    view.add_rows([row(10, 0.05)])
    qtbot.waitUntil(lambda: "loss" in view.curves, timeout=2000)  # redraws are coalesced
    x, _y = view.curve_data("loss")
    assert len(x) == 1 and view.curves["loss"].opts["symbol"] is not None  # a dot, not an empty plot
    low, high = view.plot.getViewBox().viewRange()[0]
    assert low > -5 and high >= 10  # not -400..500
    view.add_rows([row(20, 0.04), row(30, 0.0255)])
    qtbot.waitUntil(lambda: len(view.curve_data("loss")[0]) == 3, timeout=2000)
    assert view.smooth_check.isChecked() and view.curve_data("loss")[1][-1] > 0.0255  # smoothing lags
    assert "0.0255" in view.last_label.text()  # and the newest raw value is shown as it is


def test_log_scale_ticks_are_plain_numbers_without_an_si_scale(qtbot):
    view = TrainingView()
    qtbot.addWidget(view)
    view.show()
    view.add_rows([row(s, 0.001 * s) for s in range(1, 20)])
    qtbot.waitUntil(lambda: "loss" in view.curves, timeout=2000)
    view.log_check.setChecked(True)
    axis = view.plot.getAxis("left")
    assert "x0.001" not in axis.labelString() and "(x" not in axis.labelString()


def test_start_is_disabled_while_the_chosen_folder_has_no_usable_faces(qtbot, panel, tmp_path):
    # Bug 7: Start stayed enabled; it started, then failed on the faces.
    bad = tmp_path / "no-faces"
    bad.mkdir()
    (bad / "notes.txt").write_text("not an image")
    with qtbot.waitSignal(panel.faces.usable_changed, timeout=20_000):
        panel.set_dataset_folder(bad)
    assert not panel.start_button.isEnabled()
    with qtbot.waitSignal(panel.faces.usable_changed, timeout=20_000):
        panel.builtin_radio.setChecked(True)
    assert panel.start_button.isEnabled()


def test_attaching_to_a_run_folder_shows_its_settings(qtbot, panel, tmp_path):
    # Bug 8: the form kept showing whatever was in it.
    run = tmp_path / "cli-run"
    run.mkdir()
    config = RunConfig(ModelConfig("vae", resolution=32, latent_dim=24, width=8), TrainConfig.for_family("vae"),
                       DataConfig(resolution=32))
    atomic_write_bytes(run / CONFIG_NAME, json.dumps(config.to_dict()).encode())
    panel.attach_run(run)
    qtbot.waitUntil(lambda: panel.family_combo.currentText() == "vae", timeout=10_000)
    assert panel.field_value("latent_dim") == 24
    panel.detach()
