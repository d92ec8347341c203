"""Issue 10, bug 3: every tab fits a 1024x700 window without hiding its Start or Export button.

The Latent map tab is sized by its own developer (its own test); here it is told to take no room,
so the window's size is set by the tabs checked here.
"""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QPushButton

from waifu_studio.core.config import FAMILIES
from waifu_studio.ui.main_window import MainWindow

BUTTONS = {"Generate": ["Save grid..."], "Morph": ["Export strip PNG...", "Export GIF..."],
           "Directions": ["Save PNG..."], "Reconstructions": ["Reconstruct", "Export PNG..."],
           "Train": ["Start", "Stop", "Export timelapse GIF..."]}


def fully_visible(window: MainWindow, button: QPushButton) -> bool:
    rect = button.rect().translated(button.mapTo(window, button.rect().topLeft()))
    return button.isVisible() and window.rect().contains(rect) and button.visibleRegion() == button.rect()


@pytest.fixture
def small_window(qtbot, session):
    win = MainWindow(session, load_default=False)
    qtbot.addWidget(win)
    win.panels["Latent map"].setMinimumSize(1, 1)
    win.resize(1024, 700)
    win.show()
    yield win
    win.close()


@pytest.mark.parametrize("family", ["dcgan", "ae"])
def test_each_tab_fits_1024x700_with_its_buttons_in_view(qtbot, small_window, tiny_checkpoint, family):
    win = small_window
    with qtbot.waitSignal(win.session.model_changed, timeout=10_000):
        win.model_selector.open_path(tiny_checkpoint(family, resolution=64))
    for title, names in BUTTONS.items():
        win.show_tab(title)
        panel = win.panels[title]
        qtbot.waitUntil(lambda p=panel: p.jobs.is_idle(), timeout=20_000)
        win.resize(1024, 700)
        qtbot.wait(10)
        assert (win.width(), win.height()) == (1024, 700), f"{title} grows the window to {win.size()}"
        for name in names:
            [button] = [b for b in panel.findChildren(QPushButton) if b.text() == name]
            assert fully_visible(win, button), f"{title}: {name!r} is hidden at 1024x700"


def test_start_stays_in_view_for_every_family_form(qtbot, small_window):
    win = small_window
    win.show_tab("Train")
    train = win.panels["Train"]
    for family in FAMILIES:
        train.family_combo.setCurrentText(family)
        win.resize(1024, 700)
        qtbot.wait(10)
        assert fully_visible(win, train.start_button), family


def test_the_first_window_fits_the_screen(window):
    # A first start on a screen smaller than 1280x800 (the offscreen test screen is 800x800) opened
    # a 1280x800 window, bigger than the screen. Now it takes the free area, down to the window's
    # minimum (about 1000x650: every tab fits 1024x700, see above).
    from PySide6.QtGui import QGuiApplication

    from waifu_studio.ui.main_window import DEFAULT_SIZE

    area = QGuiApplication.primaryScreen().availableGeometry()
    least = window.minimumSizeHint()
    assert window.width() == min(DEFAULT_SIZE[0], max(area.width(), least.width()))
    assert window.height() == min(DEFAULT_SIZE[1], max(area.height(), least.height()))
    assert window.width() < DEFAULT_SIZE[0]  # the offscreen screen is narrower than the default
