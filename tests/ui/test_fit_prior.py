"""Refit the sampling prior from the app: File > Refit sampling prior, with progress, cancel and errors."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.ui.helpers import open_and_wait
from waifu_studio.core.io.checkpoint import read_info
from waifu_studio.ui.widgets.fit_prior import FitPriorDialog


def choose_refit(win) -> FitPriorDialog | None:
    """File > Refit sampling prior (AE/VAE)..."""
    file_menu = win.menuBar().actions()[0].menu()
    next(a for a in file_menu.actions() if a.text().startswith("Refit sampling")).trigger()
    return win.findChild(FitPriorDialog)


def fill(qtbot, dialog: FitPriorDialog, folder, out) -> None:
    for edit, text in ((dialog.folder_edit, str(folder)), (dialog.out_edit, str(out))):
        edit.clear()
        qtbot.keyClicks(edit, text)


def test_refitting_the_loaded_vae_writes_a_checkpoint_and_opens_it(qtbot, window, tiny_checkpoint, faces_folder,
                                                                   tmp_path):
    source = tiny_checkpoint("vae")
    open_and_wait(qtbot, window, source)
    dialog = choose_refit(window)
    assert dialog.isVisible() and "standard normal" in dialog.model_label.text()
    out = tmp_path / "refit.safetensors"
    fill(qtbot, dialog, faces_folder, out)
    qtbot.keyClick(dialog.components_box, Qt.Key.Key_Up)
    qtbot.keyClick(dialog.components_box, Qt.Key.Key_Up)
    assert dialog.components_box.text() == "2"
    with qtbot.waitSignal(dialog.written, timeout=60000):
        qtbot.mouseClick(dialog.fit_button, Qt.MouseButton.LeftButton)
        assert dialog.progress.isVisible() and dialog.cancel_button.text() == "Cancel"
    assert "Chose 2 " in dialog.status.text() and str(out) in dialog.status.text()
    assert read_info(out).prior["components"] == 2
    qtbot.waitUntil(lambda: window.session.model_path == out, timeout=10000)  # the app now shows the refit
    assert window.session.model.prior.components == 2
    assert not dialog.progress.isVisible() and dialog.fit_button.isEnabled()
    assert window.last_error is None


def test_cancel_stops_the_fit_and_writes_nothing(qtbot, window, tiny_checkpoint, faces_folder, tmp_path):
    open_and_wait(qtbot, window, tiny_checkpoint("ae"))
    dialog = choose_refit(window)
    out = tmp_path / "never.safetensors"
    fill(qtbot, dialog, faces_folder, out)
    qtbot.mouseClick(dialog.fit_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.status.text() == "Cancelled; nothing was written."
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60000)
    assert not out.exists() and window.last_error is None
    assert dialog.cancel_button.text() == "Close"


def test_a_missing_folder_is_an_error_dialog(qtbot, window, tiny_checkpoint, tmp_path):
    open_and_wait(qtbot, window, tiny_checkpoint("ae"))
    dialog = choose_refit(window)
    fill(qtbot, dialog, tmp_path / "nowhere", tmp_path / "x.safetensors")
    qtbot.mouseClick(dialog.fit_button, Qt.MouseButton.LeftButton)
    assert window.last_error == ("Cannot refit the prior", f"Faces folder not found: {tmp_path / 'nowhere'}")
    assert not dialog.is_running() and not (tmp_path / "x.safetensors").exists()


def test_a_gan_has_nothing_to_refit(qtbot, window, tiny_checkpoint):
    open_and_wait(qtbot, window, tiny_checkpoint("dcgan"))
    assert choose_refit(window) is None
    title, message = window.last_error
    assert title == "Cannot refit the prior" and "dcgan samples from its own prior" in message
