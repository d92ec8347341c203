"""Memorisation tab: the nearest training faces of a face on screen (a planted copy is found first,
at distance ~0) and the report, with progress, both clouds on one map, and cancel."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from waifu_studio.core.data import builtin_faces
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.io.export import save_png
from waifu_studio.ui.widgets.memorisation import MemorisationPanel


@pytest.fixture
def folder(tmp_path):
    faces = builtin_faces(count=80, resolution=32).images
    out = tmp_path / "train"
    out.mkdir()
    for i, face in enumerate(faces):
        save_png(face, out / f"{i:03d}.png")
    return out, faces


@pytest.fixture
def panel(qtbot, session, tiny_checkpoint, folder):
    path = tiny_checkpoint("ae")
    widget = MemorisationPanel(session)
    qtbot.addWidget(widget)
    widget.resize(1100, 900)
    widget.show()
    session.set_model(load_checkpoint(path), path)
    qtbot.keyClicks(widget.folder_edit, str(folder[0]))
    yield widget
    widget.close()


def test_a_planted_training_face_is_the_nearest_with_distance_zero(qtbot, panel, folder, session):
    _, faces = folder
    generated = session.model.sample(1, seed=5)[0]
    task = panel.show_nearest(generated)
    qtbot.waitUntil(lambda: not task.is_running() and panel.nearest is not None, timeout=20000)
    assert panel.results.count() == 8
    planted = faces[42]  # a training face shown on screen as if the model had made it
    task = panel.show_nearest(planted)
    qtbot.waitUntil(lambda: not task.is_running() and np.array_equal(panel.nearest[0], planted), timeout=20000)
    np.testing.assert_array_equal(panel.results.faces()[0], planted)
    assert "042.png" in panel.nearest_status.text() and "at 0.0" in panel.nearest_status.text()


def test_the_report_shows_figures_and_both_clouds(qtbot, panel):
    panel.count_box.setValue(50)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.report is not None, timeout=60000)
    qtbot.waitUntil(lambda: panel.run_button.isEnabled(), timeout=5000)
    assert "Precision" in panel.result_label.text() and "recall" in panel.result_label.text()
    assert len(panel.generated_points.data) == 50 and len(panel.real_points.data) == 50


def test_the_report_can_be_cancelled(qtbot, panel):
    panel.count_box.setValue(20000)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.run_button.isEnabled(), timeout=60000)
    assert panel.report is None and panel.result_label.text() == "Cancelled"


def test_the_training_folder_is_offered_only_where_it_exists_and_a_typed_folder_stays(
        qtbot, session, tmp_path, tiny_model_factory, folder):
    from waifu_studio.core.io.checkpoint import save_checkpoint

    here = save_checkpoint(tiny_model_factory("ae"), tmp_path / "here.safetensors",
                           training={"data": {"source": str(folder[0])}})
    away = save_checkpoint(tiny_model_factory("ae"), tmp_path / "away.safetensors",
                           training={"data": {"source": "/no/such/server/faces"}})
    widget = MemorisationPanel(session)
    qtbot.addWidget(widget)
    widget.show()
    session.set_model(load_checkpoint(here), here)
    assert widget.folder_edit.text() == str(folder[0])
    # Trained on a machine whose folder is not here (the bundled models): empty, and it says so.
    session.set_model(load_checkpoint(away), away)
    assert widget.folder_edit.text() == ""
    assert "/no/such/server/faces" in widget.folder_edit.placeholderText()
    qtbot.mouseClick(widget.find_button, Qt.MouseButton.LeftButton)  # no folder: a dialog, no search
    assert widget.nearest is None
    # A folder the user typed survives model switches.
    qtbot.keyClicks(widget.folder_edit, str(tmp_path))
    session.set_model(load_checkpoint(here), here)
    assert widget.folder_edit.text() == str(tmp_path)
    widget.close()
