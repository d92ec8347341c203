"""Qt test setup: every QThread the app starts is recorded, and a test that leaves one running fails.

As napari does, ``QThread.start`` is patched, so threads started anywhere (not only through
``ui.workers``) are seen, with the stack that started them.
"""

from __future__ import annotations

import traceback

import pytest

from tests.ui.helpers import running_threads


@pytest.fixture
def started_threads(monkeypatch):
    """[(QThread, where it was started)] for every thread started during the test."""
    from PySide6.QtCore import QThread

    started: list[tuple[object, str]] = []
    original = QThread.start

    def recording_start(self, *args, **kwargs):  # noqa: ANN001, ANN202 - QThread.start's signature
        started.append((self, "".join(traceback.format_stack(limit=8)[:-1])))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", recording_start)
    return started


@pytest.fixture(autouse=True)
def _no_thread_left_running(qtbot, started_threads):
    yield
    # Give finished threads a moment to wind down, then insist nothing is left.
    try:
        qtbot.waitUntil(lambda: not running_threads(started_threads), timeout=5000)
    except Exception:  # noqa: BLE001 - report below with the places the threads were started
        pass
    left = running_threads(started_threads)
    assert not left, f"{len(left)} QThread(s) still running after the test, started at:\n" + "\n".join(
        where for _t, where in left)


@pytest.fixture
def session(tmp_path):
    from PySide6.QtCore import QSettings

    from waifu_studio.ui.session import Session

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return Session(settings)


@pytest.fixture
def window(qtbot, session):
    """The main window on ``session``, shown, with no model loaded."""
    from waifu_studio.ui.main_window import MainWindow

    win = MainWindow(session, load_default=False)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


@pytest.fixture
def make_panel(qtbot, session):
    """A shown latent map panel on ``model`` (shut down after the test)."""
    panels = []

    def make(model):
        from waifu_studio.ui.widgets.latent_map import LatentMapPanel

        panel = LatentMapPanel(session)
        qtbot.addWidget(panel)
        panel.resize(1100, 750)
        panel.show()
        qtbot.waitExposed(panel)
        panels.append(panel)
        session.set_model(model)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


@pytest.fixture
def gui_thread_indexes(monkeypatch):
    """Sizes of the map grid indexes built on the GUI thread (sorting a big map's points there stalls the window)."""
    import threading

    from waifu_studio.core.explore.spatial import GridIndex

    built: list[int] = []
    real = GridIndex.__init__

    def spy(self, xy, *args, **kwargs):  # noqa: ANN001, ANN202 - GridIndex.__init__'s signature
        if threading.current_thread() is threading.main_thread() and len(xy):
            built.append(len(xy))
        real(self, xy, *args, **kwargs)

    monkeypatch.setattr(GridIndex, "__init__", spy)
    return built
