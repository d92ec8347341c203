"""The Directions panel: sliders move the face, zero is the original, the sweep shows the direction."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.ui.widgets.directions import SLIDER_STEPS, DirectionsPanel


@pytest.fixture(params=["dcgan", "ae"])
def panel(request, qtbot, session, tiny_checkpoint):
    path = tiny_checkpoint(request.param)
    model = load_checkpoint(path)
    widget = DirectionsPanel(session)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    with qtbot.waitSignal(widget.axes_ready, timeout=10000):
        session.set_model(model, path)
    qtbot.waitUntil(lambda: widget.jobs.is_idle() and widget.current_face() is not None, timeout=5000)
    yield widget
    widget.close()


def wait_idle(qtbot, panel) -> None:
    qtbot.waitUntil(panel.jobs.is_idle, timeout=5000)


def test_sliders_at_zero_show_the_original_face(qtbot, panel, session):
    model = session.model
    original = model.decode(model.seeds_to_latents([0]))[0]  # no current face yet: seed 0
    np.testing.assert_array_equal(panel.current_face(), original)
    assert all(s.isEnabled() for s in panel.pc_sliders)


def test_direction_slider_changes_the_face_and_reset_restores_it(qtbot, panel):
    original = panel.current_face()
    slider = panel.pc_sliders[0]
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_PageUp)  # half a std
    qtbot.keyClick(slider, Qt.Key.Key_End)  # +3 std
    assert slider.value() == 3 * SLIDER_STEPS
    wait_idle(qtbot, panel)
    assert not np.array_equal(panel.current_face(), original)
    # The sweep strip shows PC 1 from -3 to +3 std; its last face is the current one.
    assert len(panel.sweep.faces()) == 7
    np.testing.assert_array_equal(panel.sweep.faces()[-1], panel.current_face())
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, panel)
    assert slider.value() == 0
    np.testing.assert_array_equal(panel.current_face(), original)


def test_single_dimension_slider(qtbot, panel, session):
    original = panel.current_face()
    panel.dim_box.setValue(3)
    panel.dim_slider.setValue(-2 * SLIDER_STEPS)
    wait_idle(qtbot, panel)
    latent = panel.edited_latent()
    base = session.model.seeds_to_latents([0])[0]
    changed = np.flatnonzero(~np.isclose(latent, base))
    assert changed.tolist() == [3] and latent[3] < base[3]
    assert not np.array_equal(panel.current_face(), original)
    np.testing.assert_array_equal(panel.current_face(), session.model.decode(latent)[0])


def test_current_latent_from_session_and_endpoints(qtbot, panel, session):
    model = session.model
    latent = model.seeds_to_latents([42])[0]
    session.set_current_latent(latent)
    wait_idle(qtbot, panel)
    np.testing.assert_array_equal(panel.current_face(), model.decode(latent)[0])
    qtbot.mouseClick(panel.set_b_button, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(session.endpoint_b.latent, latent)
    np.testing.assert_array_equal(session.endpoint_b.face, panel.current_face())


def test_export_png(qtbot, panel, tmp_path):
    out = tmp_path / "edit.png"
    task = panel.export_png(out)
    qtbot.waitUntil(lambda: not task.is_running(), timeout=5000)
    assert out.exists() and (tmp_path / "edit_sweep.png").exists()
