"""The app remembers its state across restarts: model, tab, seed, grid, truncation, morph endpoints, geometry."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog

from waifu_studio.ui import persistence
from waifu_studio.ui.main_window import MainWindow
from waifu_studio.ui.session import Session


def open_window(qtbot, settings_path, load: bool = True) -> MainWindow:  # noqa: ANN001
    win = MainWindow(Session(QSettings(str(settings_path), QSettings.Format.IniFormat)), load_default=load)
    qtbot.addWidget(win)
    win.show()
    return win


def test_a_restart_shows_the_last_model_tab_settings_and_endpoints(qtbot, tmp_path, tiny_checkpoint):
    ini = tmp_path / "settings.ini"
    path = tiny_checkpoint("dcgan")
    first = open_window(qtbot, ini, load=False)
    with qtbot.waitSignal(first.session.model_changed, timeout=10_000):
        first.model_selector.open_path(path)
    morph = first.panels["Morph"]
    qtbot.waitUntil(morph.jobs.is_idle, timeout=10_000)
    first.session.generator.update(seed=123, side=2, truncation=0.7)
    morph.set_endpoint_from_seed("A", 5)
    morph.set_endpoint_from_seed("B", 9)
    qtbot.waitUntil(lambda: morph.jobs.is_idle() and first.session.endpoint_b.seed == 9, timeout=10_000)
    first.show_tab("Morph")
    first.resize(1200, 850)
    assert first.close()

    second = open_window(qtbot, ini)
    qtbot.waitUntil(lambda: second.session.model is not None, timeout=10_000)
    morph = second.panels["Morph"]
    qtbot.waitUntil(lambda: morph.jobs.is_idle() and second.session.endpoint_b is not None, timeout=10_000)
    gen = second.generator
    assert second.session.model_path == path and path.name in second.model_selector.currentText()
    assert (gen.seed_box.value(), gen.grid_box.currentText(), gen.truncation_box.value()) == (123, "2 x 2", 0.7)
    assert [second.session.morph.get(w).label for w in "AB"] == ["seed 5", "seed 9"]
    assert second.tabs.tabText(second.tabs.currentIndex()) == "Morph"
    # The geometry is saved and handed to restoreGeometry; its size is not compared here because the
    # offscreen test screen (about 800x800) clamps any restored window to itself.
    assert persistence.saved_geometry(second.session.settings) is not None
    second.close()


def test_each_kind_of_file_dialog_starts_in_its_last_folder(qtbot, tmp_path, monkeypatch):
    ini = tmp_path / "settings.ini"
    win = open_window(qtbot, ini, load=False)
    folders = {name: tmp_path / name for name in ("data", "exports")}
    for folder in folders.values():
        folder.mkdir()
    asked: list[tuple[str, str]] = []

    def fake_folder(parent, title, start):  # noqa: ANN001, ANN202 - QFileDialog's signature
        asked.append((title, start))
        return str(folders["data"])

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", fake_folder)
    win.ask_dataset_folder()
    win.ask_dataset_folder()
    assert asked[-1][1] == str(folders["data"])  # the dataset chooser remembers its folder
    win.close()
