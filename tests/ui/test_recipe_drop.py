"""Dropping a file the app or the CLI wrote onto the window restores what made it, loading its model."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from waifu_studio.cli import main as cli_main
from waifu_studio.core.io.files import file_sha256
from waifu_studio.ui.main_window import MainWindow


@pytest.fixture
def window(qtbot, session, tiny_checkpoint):
    win = MainWindow(session, load_default=False)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    other = tiny_checkpoint("ae", name="other.safetensors")
    with qtbot.waitSignal(session.model_changed, timeout=10000):
        win.model_selector.open_path(other)
    yield win
    win.close()


def drop_file(window, path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(400, 300), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    # Qt delivers a Drop only during a real drag (none offscreen), so hand the event to the window's
    # drop filter the way Qt's dispatch would (as the morph tests call a well's dropEvent).
    assert window.recipe_drop.eventFilter(window, event)
    assert event.isAccepted()


def test_dropping_a_cli_grid_loads_its_model_and_shows_its_seeds(qtbot, window, tiny_checkpoint, tmp_path):
    ckpt = tiny_checkpoint("dcgan")
    grid = tmp_path / "grid.png"
    assert cli_main(["generate", "--checkpoint", str(ckpt), "--seed", "300", "--n", "9", "--truncation", "0.6",
                     "--out", str(grid)]) == 0
    drop_file(window, grid)
    gen = window.generator
    qtbot.waitUntil(lambda: getattr(window.session.model, "checkpoint_sha256", "") == file_sha256(ckpt)
                    and gen.shown_seeds() == list(range(300, 309)), timeout=10000)
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Generate"
    assert gen.truncation() == 0.6
    model = window.session.model
    np.testing.assert_array_equal(gen.current_faces(), model.decode(model.seeds_to_latents(range(300, 309), 0.6)))


def test_dropping_a_morph_gif_restores_the_endpoints_and_frames(qtbot, window, tiny_checkpoint, tmp_path):
    ckpt = tiny_checkpoint("dcgan")
    gif = tmp_path / "morph.gif"
    assert cli_main(["morph", "--checkpoint", str(ckpt), "--from", "12", "--to", "34", "--steps", "7",
                     "--slerp", "--out", str(gif)]) == 0
    drop_file(window, gif)
    session = window.session
    qtbot.waitUntil(lambda: session.endpoint_a is not None and session.endpoint_a.seed == 12
                    and session.endpoint_b is not None and session.endpoint_b.seed == 34
                    and getattr(session.model, "checkpoint_sha256", "") == file_sha256(ckpt), timeout=10000)
    morph = window.panels["Morph"]
    assert morph.frames_box.value() == 7 and morph.slerp_box.isChecked()
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Morph"


def test_dropping_a_file_without_recipe_shows_a_dialog(qtbot, window, tmp_path):
    from PIL import Image

    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    with qtbot.waitSignal(window.session.error_raised, timeout=10000):
        drop_file(window, plain)
    assert "no Waifu Studio recipe" in window.last_error[1]
