"""Qt test setup: fail any test that leaves a QThread running (napari does the same)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_thread_left_running(qtbot):
    yield
    from waifu_studio.ui.workers import active_threads

    # Give finished threads a moment to wind down, then insist nothing is left.
    qtbot.waitUntil(lambda: not active_threads(), timeout=5000)
    assert not active_threads(), f"{len(active_threads())} QThread(s) still running after the test"


@pytest.fixture
def session(tmp_path):
    from PySide6.QtCore import QSettings

    from waifu_studio.ui.session import Session

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return Session(settings)
