"""The main window: opening checkpoints, bad files, tabs, export, and a clean close."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from tests.ui.helpers import open_and_wait, running_threads
from waifu_studio.ui.main_window import MainWindow
from waifu_studio.ui.session import bundled_checkpoints
from waifu_studio.ui.widgets.model_selector import TRAINING_LABEL


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


def test_close_leaves_no_thread_running(qtbot, session, tiny_checkpoint, started_threads):
    win = MainWindow(session, load_default=False)
    qtbot.addWidget(win)
    win.show()
    open_and_wait(qtbot, win, tiny_checkpoint("ae"))
    win.generator.seed_box.setValue(123)  # a render in flight while closing
    assert win.close()
    assert not running_threads(started_threads)


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


def test_close_during_training_asks_then_stops(qtbot, session, monkeypatch, started_threads):
    win = MainWindow(session, load_default=False)
    qtbot.addWidget(win)
    win.show()
    train = win.panels["Train"]
    stopped = []
    monkeypatch.setattr(train, "is_training", lambda: not stopped)
    monkeypatch.setattr(train, "stop_training", lambda: stopped.append(True) or train.training_finished.emit())
    monkeypatch.setattr(win, "confirm_stop_training", lambda: False)
    assert not win.close()  # "No": keep training, keep the window
    assert win.isVisible() and not stopped
    monkeypatch.setattr(win, "confirm_stop_training", lambda: True)
    win.close()
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=5000)
    assert stopped and not running_threads(started_threads)


# ----------------------------------------------------------------------------- issue 10, bugs 2 and 10


def _drag_event(kind, pos, mime, modifiers=Qt.KeyboardModifier.NoModifier):  # noqa: ANN001, ANN202
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QDropEvent

    point = QPointF(pos)
    if kind is QDropEvent:
        return QDropEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, modifiers)
    return kind(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, modifiers)


def test_dragging_a_face_onto_the_morph_tab_switches_to_it_and_sets_an_endpoint(qtbot, window, tiny_checkpoint):
    # Bug 2: "Drag a face onto the Morph tab" did nothing: hovering did not switch and a drop was ignored.
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    from waifu_studio.ui.widgets.face_tile import latent_mime_data

    open_and_wait(qtbot, window, tiny_checkpoint("dcgan"))
    morph = window.panels["Morph"]
    qtbot.waitUntil(lambda: morph.jobs.is_idle() and window.session.endpoint_a is not None, timeout=10_000)
    model = window.session.model
    latent = model.seeds_to_latents([42])[0]
    mime = latent_mime_data(latent, "seed 42", seed=42, model_key=window.session.model_key)
    bar = window.tabs.tabBar()
    pos = bar.tabRect(window.tabs.indexOf(morph)).center()
    window.show_tab("Generate")

    enter = _drag_event(QDragEnterEvent, pos, mime)
    QApplication.sendEvent(bar, enter)
    QApplication.sendEvent(bar, _drag_event(QDragMoveEvent, pos, mime))
    assert enter.isAccepted() and window.current_panel() is morph  # hovering the tab shows it
    drop = _drag_event(QDropEvent, pos, mime)
    with qtbot.waitSignal(window.session.endpoints_changed, timeout=10_000):
        QApplication.sendEvent(bar, drop)
    assert drop.isAccepted()
    assert window.session.endpoint_a.label == "seed 42"
    np.testing.assert_array_equal(window.session.endpoint_a.face, model.decode(latent)[0])


def test_title_names_the_model_once_and_recent_files_show_their_folder(qtbot, window, tiny_model_factory, tmp_path):
    # Bug 10: "Waifu Studio — dcgan.safetensors — Waifu Studio"; two identical "checkpoint.safetensors".
    from PySide6.QtWidgets import QApplication

    from waifu_studio.core.io.checkpoint import save_checkpoint

    paths = []
    for run in ("run-a", "run-b"):
        (tmp_path / run).mkdir()
        paths.append(save_checkpoint(tiny_model_factory("dcgan"), tmp_path / run / "checkpoint.safetensors"))
        open_and_wait(qtbot, window, paths[-1])
    # Qt shows the title with the application's display name added once.
    shown = window.windowTitle() + " \u2014 " + QApplication.applicationDisplayName()
    assert shown.count("Waifu Studio") <= 1 and "checkpoint.safetensors" in shown
    labels = [a.text() for a in window.recent_menu.actions()]
    assert len(labels) == 2 and len(set(labels)) == 2
    assert any("run-a" in label for label in labels) and any("run-b" in label for label in labels)
    combo = [window.model_selector.itemText(i) for i in range(window.model_selector.count())]
    assert len({t for t in combo if t.startswith("checkpoint.safetensors")}) == 2


def test_an_expected_error_shows_a_dialog_without_a_traceback(qtbot, window, tmp_path, capfd):
    # Bug 10: expected errors printed full tracebacks to stderr.
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a checkpoint" * 10)
    with qtbot.waitSignal(window.session.error_raised, timeout=10000):
        window.model_selector.open_path(bad)
    assert "Traceback" not in capfd.readouterr().err


def test_seed_endpoints_are_drawn_by_the_training_run_model(qtbot, window, tmp_path, tiny_model_factory):
    # Issue 10, bug 1 (its second part): with the "Training run" entry both seed endpoints were
    # reported as flat grey squares. The entry's model draws them as any loaded model does (an
    # untrained or barely trained generator does draw near-grey faces: the weights here are spread
    # so that a face has structure).
    import torch

    from waifu_studio.core.io.checkpoint import save_checkpoint

    def checkpoint(name: str, seed: int):
        model = tiny_model_factory("dcgan")
        with torch.no_grad():
            generator = torch.Generator().manual_seed(seed)
            for p in model.parameters():
                p.add_(0.3 * torch.randn(p.shape, generator=generator))
        return save_checkpoint(model, tmp_path / name)

    open_and_wait(qtbot, window, checkpoint("first.safetensors", 1))
    morph = window.panels["Morph"]
    for which, seed in (("A", 3), ("B", 5)):
        morph.set_endpoint_from_seed(which, seed)
    qtbot.waitUntil(lambda: morph.jobs.is_idle() and window.session.morph.get("B") is not None, timeout=10000)
    window.session.set_training_checkpoint(checkpoint("run.safetensors", 2))
    selector = window.model_selector
    index = selector.findText(TRAINING_LABEL)
    with qtbot.waitSignal(window.session.model_changed, timeout=10000):
        selector.setCurrentIndex(index)
        selector.activated.emit(index)
    model = window.session.model
    expected = {which: model.decode(model.seeds_to_latents([seed]))[0] for which, seed in (("A", 3), ("B", 5))}

    def drawn_by_the_run() -> bool:  # display decodes may differ by a level (bf16, thread count)
        faces = {w: morph.wells[w].face.face() for w in "AB"}
        return all(f is not None and np.abs(f.astype(int) - expected[w]).max() <= 2 for w, f in faces.items())

    qtbot.waitUntil(lambda: morph.jobs.is_idle() and drawn_by_the_run(), timeout=20000)
    for which, seed in (("A", 3), ("B", 5)):
        assert window.session.morph.get(which).seed == seed
        assert morph.wells[which].face.face().std() > 5  # a face with structure, not a flat square
