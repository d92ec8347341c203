"""The main window: opening checkpoints, bad files, tabs, export, and a clean close."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from waifu_studio.ui.main_window import MainWindow
from waifu_studio.ui.session import bundled_checkpoints
from waifu_studio.ui.widgets.model_selector import TRAINING_LABEL
from waifu_studio.ui.workers import active_threads


@pytest.fixture
def window(qtbot, session):
    win = MainWindow(session, load_default=False)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def open_and_wait(qtbot, win, path):
    with qtbot.waitSignal(win.session.model_changed, timeout=10000):
        win.model_selector.open_path(path)


def test_open_checkpoint_updates_panels(qtbot, window, tiny_checkpoint):
    path = tiny_checkpoint("vae", latent_dim=12)
    open_and_wait(qtbot, window, path)
    model = window.session.model
    assert model.family == "vae" and model.latent_dim == 12
    assert path.name in window.model_selector.currentText()
    assert "vae" in window.model_info.text() and "latent 12" in window.model_info.text()
    qtbot.waitUntil(lambda: window.generator.current_faces().shape[0] == 16, timeout=5000)
    assert window.generator.current_faces().shape[1:] == (32, 32, 3)
    qtbot.waitUntil(lambda: window.directions.current_face() is not None, timeout=5000)
    assert window.directions.dim_box.maximum() == 11


def test_corrupt_checkpoint_shows_error_and_keeps_model(qtbot, window, tiny_checkpoint, tmp_path):
    good = tiny_checkpoint("dcgan")
    open_and_wait(qtbot, window, good)
    previous = window.session.model
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\x13\x37garbage that is not a checkpoint" * 10)
    with qtbot.waitSignal(window.session.error_raised, timeout=10000):
        window.model_selector.open_path(bad)
    assert window.last_error is not None
    title, message = window.last_error
    assert title == "Cannot open checkpoint" and "x.safetensors" in message
    assert window.session.model is previous
    assert good.name in window.model_selector.currentText()
    dialogs = [w for w in window.findChildren(QMessageBox) if w.isVisible()]
    assert dialogs and not dialogs[0].isModal() or dialogs[0].windowModality() != Qt.WindowModality.ApplicationModal


def test_close_leaves_no_thread_running(qtbot, session, tiny_checkpoint):
    win = MainWindow(session, load_default=False)
    qtbot.addWidget(win)
    win.show()
    open_and_wait(qtbot, win, tiny_checkpoint("ae"))
    win.generator.seed_box.setValue(123)  # a render in flight while closing
    assert win.close()
    assert not active_threads()


@pytest.mark.skipif(not bundled_checkpoints(), reason="no bundled checkpoints")
def test_startup_opens_first_bundled_model(qtbot, session):
    win = MainWindow(session)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: session.model is not None, timeout=15000)
    assert session.model_path == bundled_checkpoints()[0]
    assert "(bundled)" in win.model_selector.currentText()
    win.close()


def test_tab_shortcuts_and_edit_in_directions(qtbot, window, tiny_checkpoint):
    open_and_wait(qtbot, window, tiny_checkpoint("dcgan"))
    window.activateWindow()
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Directions"
    window.show_tab("Generate")
    qtbot.waitUntil(lambda: window.generator.current_faces().shape[0] == 16, timeout=5000)
    window.generator.edit_in_directions(1)
    assert window.current_panel() is window.directions
    expected = window.session.model.decode(window.session.model.seeds_to_latents([1]))[0]
    qtbot.waitUntil(lambda: window.directions.current_face() is not None
                    and np.array_equal(window.directions.current_face(), expected), timeout=5000)


def test_export_current_view(qtbot, window, tiny_checkpoint, tmp_path):
    open_and_wait(qtbot, window, tiny_checkpoint("dcgan"))
    qtbot.waitUntil(lambda: window.generator.current_faces().shape[0] == 16, timeout=5000)
    out = tmp_path / "view.png"
    task = window.export_current_view(out)
    qtbot.waitUntil(lambda: not task.is_running(), timeout=5000)
    assert out.exists() and out.stat().st_size > 0


def test_training_entry_reloads_on_new_checkpoint(qtbot, window, tiny_checkpoint):
    first = tiny_checkpoint("dcgan", name="run.safetensors")
    window.session.set_training_checkpoint(first)
    selector = window.model_selector
    index = selector.findText(TRAINING_LABEL)
    assert index >= 0
    with qtbot.waitSignal(window.session.model_changed, timeout=10000):
        selector.setCurrentIndex(index)
        selector.activated.emit(index)
    loaded = window.session.model
    assert selector.currentText() == TRAINING_LABEL
    with qtbot.waitSignal(window.session.model_changed, timeout=10000):
        window.session.set_training_checkpoint(first)  # the trainer wrote a newer checkpoint
    assert window.session.model is not loaded
    assert selector.currentText() == TRAINING_LABEL


def test_about_dialog_does_not_block(qtbot, window):
    window.show_about()
    boxes = [w for w in window.findChildren(QMessageBox) if w.isVisible()]
    assert boxes and "torch" in boxes[0].text()


def test_open_dataset_folder_switches_to_train(qtbot, window, tmp_path):
    window.open_dataset_folder(tmp_path)
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Train"


def test_close_during_training_asks_then_stops(qtbot, session, monkeypatch):
    win = MainWindow(session, load_default=False)
    qtbot.addWidget(win)
    win.show()
    train = win.panels["Train"]
    stopped = []
    monkeypatch.setattr(train, "is_training", lambda: not stopped, raising=False)
    monkeypatch.setattr(train, "stop_and_wait", lambda timeout_s=10: stopped.append(timeout_s) or True, raising=False)
    monkeypatch.setattr(win, "confirm_stop_training", lambda: False)
    assert not win.close()  # "No": keep training, keep the window
    assert win.isVisible() and not stopped
    monkeypatch.setattr(win, "confirm_stop_training", lambda: True)
    assert win.close()
    assert stopped and not active_threads()
