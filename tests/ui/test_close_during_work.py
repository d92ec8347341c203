"""Closing the window while slow work runs: training, a t-SNE map, a GAN inversion.

Each close must stop its work (the workers honour their cancel flags: the window waits for them
only a short while, so a worker that ignored its flag would still be running) and leave no
thread running; closing while training shows its progress and closes once the checkpoint is
saved. How long a close takes is measured in benchmarks/close_bench.py, not asserted here.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from tests.ui.helpers import running_threads, setup_tiny_training
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.training import CHECKPOINT_NAME
from waifu_studio.ui.main_window import MainWindow


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


def test_close_while_training_paints_its_progress_saves_and_leaves_no_thread(qtbot, window, tmp_path, monkeypatch,
                                                                           started_threads):
    # Issue 10, bug 5: after "Yes" the window froze with the dialog still drawn, never painted
    # "Stopping...", and the process printed "QThread: Destroyed while thread '' is still running".
    train = setup_tiny_training(qtbot, window)
    run = tmp_path / "run"
    train.run_dir_edit.setText(str(run))
    qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: train.progress.format().startswith("step") and train.progress.value() >= 2,
                    timeout=30_000)
    monkeypatch.setattr(window, "confirm_stop_training", lambda: True)

    assert not window.close()  # returns at once: the event loop keeps running while training stops
    assert window.isVisible() and window.stopping.isVisible()
    assert window.stopping.labelText().startswith("Stopping training")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=60_000)  # it closes itself once stopped

    assert not train.is_training() and not running_threads(started_threads)
    assert load_checkpoint(run / CHECKPOINT_NAME).config.family == "dcgan"
    assert window.last_error is None, window.last_error


def test_close_while_tsne_runs(qtbot, window, tiny_checkpoint, started_threads):
    open_and_wait(qtbot, window, tiny_checkpoint("dcgan"))
    panel = window.panels["Latent map"]
    window.show_tab("Latent map")
    panel.compute("prior", n=1500, method="tsne", perplexity=30)
    # Close once the t-SNE task itself runs (the sampling task has handed over the PCA map).
    qtbot.waitUntil(lambda: panel.source is not None, timeout=20_000)
    assert not panel._final and running_threads(started_threads)
    finished = []
    panel.map_ready.connect(lambda: finished.append(True))

    assert window.close()

    assert not running_threads(started_threads)
    qtbot.wait(50)  # a map that ran on past the close would be delivered now
    assert not finished and not panel._final
    assert window.last_error is None, window.last_error


def test_close_while_inverting_a_dropped_image(qtbot, window, tiny_checkpoint, tmp_path, started_threads):
    open_and_wait(qtbot, window, tiny_checkpoint("dcgan"))
    morph = window.panels["Morph"]
    window.show_tab("Morph")
    image = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(image)
    morph.drop_image_file("A", image)
    assert morph.jobs.is_busy("endpoint A")

    assert window.close()

    assert not running_threads(started_threads)
    qtbot.wait(50)
    assert window.session.endpoint_a is None  # the inversion was dropped, not finished
    assert window.last_error is None, window.last_error
