"""Shared steps of UI tests."""

from __future__ import annotations

from typing import Any

# A DCGAN small enough to train a few steps per second on 2 CPU cores, on 64 built-in faces.
TINY_TRAINING: dict[str, Any] = {"resolution": 32, "width": 8, "latent_dim": 16, "batch_size": 16, "epochs": 500,
                                 "log_every": 1, "sample_every": 1000, "precision": "fp32"}


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
