"""Shared steps of UI tests."""

from __future__ import annotations

from typing import Any

# A DCGAN small enough to train a few steps per second on 2 CPU cores, on 64 built-in faces.
TINY_TRAINING: dict[str, Any] = {"resolution": 32, "width": 8, "latent_dim": 16, "batch_size": 16, "epochs": 500,
                                 "log_every": 1, "sample_every": 1000, "precision": "fp32"}


def tiny_training_panel(qtbot, session, run_dir, **overrides: Any):  # noqa: ANN001, ANN201 - -> TrainingPanel
    """A shown Training panel set up for a tiny CPU run into ``run_dir`` (its 64 built-in faces scanned)."""
    from waifu_studio.ui.widgets.training import TrainingPanel

    panel = TrainingPanel(session)
    qtbot.addWidget(panel)
    panel.resize(1280, 800)
    with qtbot.waitSignal(panel.dataset_scanned, timeout=20_000):
        panel.builtin_count.setValue(64)  # scanned once the panel is shown (debounced)
        panel.show()
    panel.family_combo.setCurrentText("dcgan")
    for name, value in {**TINY_TRAINING, **overrides}.items():
        panel.set_field(name, value)
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))
    panel.run_dir_edit.setText(str(run_dir))
    return panel


def setup_tiny_training(qtbot, win, **overrides: Any):  # noqa: ANN001, ANN201 - qtbot, MainWindow -> TrainingPanel
    """Fill the main window's Train form as a user would for a tiny CPU run; returns the panel."""
    train = win.panels["Train"]
    win.show_tab("Train")
    with qtbot.waitSignal(train.dataset_scanned, timeout=20_000):
        train.builtin_count.setValue(64)
    train.family_combo.setCurrentText("dcgan")
    for name, value in {**TINY_TRAINING, **overrides}.items():
        train.set_field(name, value)
    train.device_combo.setCurrentIndex(train.device_combo.findData("cpu"))
    return train


def _alive(thread) -> bool:  # noqa: ANN001 - QThread
    try:
        return thread.isRunning()
    except RuntimeError:  # the C++ object is already deleted: it ended
        return False


def running_threads(started) -> list[tuple[object, str]]:  # noqa: ANN001 - the started_threads fixture's list
    """The threads of ``started`` (the ``started_threads`` fixture) still running, with where they started."""
    return [(t, where) for t, where in started if _alive(t)]


def open_and_wait(qtbot, win, path) -> None:  # noqa: ANN001 - qtbot, MainWindow, Path
    """Open a checkpoint from the model selector and wait until it is the session's model."""
    with qtbot.waitSignal(win.session.model_changed, timeout=10000):
        win.model_selector.open_path(path)
