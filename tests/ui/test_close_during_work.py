"""Closing the window while slow work runs: training, a t-SNE map, a GAN inversion.

Each close must return promptly (the workers honour their cancel flags), leave no thread running,
and a stopped training run must leave its checkpoint behind.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from tests.ui.helpers import setup_tiny_training
from waifu_studio.core.training import CHECKPOINT_NAME
from waifu_studio.ui.main_window import MainWindow
from waifu_studio.ui.workers import active_threads

CLOSE_LIMIT_S = 2.0


@pytest.fixture
def window(qtbot, session):
    win = MainWindow(session, load_default=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.close()


def open_and_wait(qtbot, win: MainWindow, path) -> None:
    with qtbot.waitSignal(win.session.model_changed, timeout=10_000):
        win.model_selector.open_path(path)


def timed_close(win: MainWindow) -> float:
    start = time.perf_counter()
    assert win.close()
    return time.perf_counter() - start


def test_close_while_training_stops_fast_and_keeps_a_checkpoint(qtbot, window, tmp_path, monkeypatch):
    # No EMA: every checkpoint of an EMA GAN first recalibrates batch norm on generated faces,
    # a deliberate cost of saving, not a stop that ignores its flag.
    train = setup_tiny_training(qtbot, window, ema_decay=0.0)
    run = tmp_path / "run"
    train.run_dir_edit.setText(str(run))
    qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train.progress.format().startswith("step") and train.progress.value() >= 2,
                    timeout=30_000)
    monkeypatch.setattr(window, "confirm_stop_training", lambda: True)

    elapsed = timed_close(window)

    assert elapsed < CLOSE_LIMIT_S, f"close took {elapsed:.2f} s"
    assert not train.is_training() and not active_threads()
    assert (run / CHECKPOINT_NAME).exists()
    assert window.last_error is None, window.last_error


def test_close_while_tsne_runs(qtbot, window, tiny_checkpoint):
    open_and_wait(qtbot, window, tiny_checkpoint("dcgan"))
    panel = window.panels["Latent map"]
    window.show_tab("Latent map")
    panel.compute("prior", n=1500, method="tsne", perplexity=30)
    # Close once the t-SNE task itself runs (the sampling task has handed over the PCA map).
    qtbot.waitUntil(lambda: panel.source is not None, timeout=20_000)
    assert not panel._final and active_threads()

    elapsed = timed_close(window)

    assert elapsed < CLOSE_LIMIT_S, f"close took {elapsed:.2f} s"
    assert not active_threads()
    assert window.last_error is None, window.last_error


def test_close_while_inverting_a_dropped_image(qtbot, window, tiny_checkpoint, tmp_path):
    open_and_wait(qtbot, window, tiny_checkpoint("dcgan"))
    morph = window.panels["Morph"]
    window.show_tab("Morph")
    image = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(image)
    morph.drop_image_file("A", image)
    assert morph._endpoint_tasks["A"].is_running()

    elapsed = timed_close(window)

    assert elapsed < CLOSE_LIMIT_S, f"close took {elapsed:.2f} s"
    assert not active_threads()
    assert window.last_error is None, window.last_error
