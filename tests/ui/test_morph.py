"""The morph panel, driven like a user: endpoints, the handle, the strip, drops and exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QStyle, QStyleOptionSlider

from waifu_studio.core.data import load_image_file
from waifu_studio.core.explore.latent import interpolate
from waifu_studio.core.models.seeds import seeds_to_z
from waifu_studio.ui.widgets import morph as morph_module
from waifu_studio.ui.widgets.face_tile import latent_mime_data
from waifu_studio.ui.widgets.morph import MorphPanel


@pytest.fixture
def make_panel(qtbot, session):
    panels = []

    def make(model) -> MorphPanel:
        panel = MorphPanel(session)
        qtbot.addWidget(panel)
        panel.resize(1000, 700)
        panel.show()
        panels.append(panel)
        session.set_model(model)
        wait_idle(qtbot, panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


def wait_idle(qtbot, panel: MorphPanel) -> None:
    """Both endpoints set, and the strip and the preview rendered for the newest request."""
    s = panel.session

    def ready() -> bool:
        return s.endpoint_a is not None and s.endpoint_b is not None and panel.jobs.is_idle()

    qtbot.waitUntil(ready, timeout=20000)


def test_handle_middle_shows_exact_interpolation_and_ends_show_a_and_b(qtbot, make_panel, tiny_model_factory):
    model = tiny_model_factory("dcgan")
    panel = make_panel(model)
    a, b = panel.session.endpoint_a, panel.session.endpoint_b
    assert a.label == "seed 0" and b.label == "seed 1"
    assert not np.array_equal(a.face, b.face)

    with qtbot.waitSignal(panel.preview_rendered, timeout=10000):
        panel.slider.setValue(0)
    np.testing.assert_array_equal(panel.preview_face(), a.face)
    with qtbot.waitSignal(panel.preview_rendered, timeout=10000):
        panel.slider.setValue(1000)
    np.testing.assert_array_equal(panel.preview_face(), b.face)
    with qtbot.waitSignal(panel.preview_rendered, timeout=10000):
        panel.slider.setValue(500)
    expected = model.decode(interpolate(a.latent, b.latent, 0.5, spherical=False))[0]
    np.testing.assert_array_equal(panel.preview_face(), expected)
    assert panel.preview_face().shape == (32, 32, 3)


def test_real_mouse_drag_of_the_handle(qtbot, make_panel, tiny_model_factory):
    model = tiny_model_factory("dcgan")
    panel = make_panel(model)
    slider = panel.slider
    with qtbot.waitSignal(panel.preview_rendered, timeout=10000):
        slider.setValue(250)
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    handle = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                           QStyle.SubControl.SC_SliderHandle, slider)
    start = handle.center()
    qtbot.mousePress(slider, Qt.MouseButton.LeftButton, pos=start)
    for x in range(start.x(), slider.width() + 40, 25):  # past the right end: the handle stops at 1000
        qtbot.mouseMove(slider, QPoint(x, start.y()))
    qtbot.mouseRelease(slider, Qt.MouseButton.LeftButton, pos=QPoint(slider.width() + 40, start.y()))
    assert slider.value() == 1000
    wait_idle(qtbot, panel)
    np.testing.assert_array_equal(panel.preview_face(), panel.session.endpoint_b.face)


def test_strip_has_k_frames_and_slerp_keeps_endpoints(qtbot, make_panel, tiny_model_factory):
    model = tiny_model_factory("vae")
    panel = make_panel(model)
    assert panel.strip_faces().shape == (8, 32, 32, 3)
    with qtbot.waitSignal(panel.strip_rendered, timeout=10000):
        panel.frames_box.setValue(5)
    assert panel.strip_faces().shape == (5, 32, 32, 3)

    panel.slerp_box.setChecked(True)
    wait_idle(qtbot, panel)
    a, b = panel.session.endpoint_a, panel.session.endpoint_b
    strip = panel.strip_faces().astype(int)
    # Batched and single decodes may differ by a rounding step; the faces themselves are the same.
    assert np.abs(strip[0] - a.face).max() <= 1 and np.abs(strip[-1] - b.face).max() <= 1
    for value, end in ((0, a), (1000, b)):
        panel.slider.setValue(value)
        wait_idle(qtbot, panel)
        np.testing.assert_array_equal(panel.preview_face(), end.face)
    panel.slider.setValue(500)
    wait_idle(qtbot, panel)
    expected = model.decode(interpolate(a.latent, b.latent, 0.5, spherical=True, center=model.latent_mean))[0]
    np.testing.assert_array_equal(panel.preview_face(), expected)
    # slerp's middle differs from lerp's middle, so the toggle is really used
    assert not np.array_equal(interpolate(a.latent, b.latent, 0.5, spherical=True),
                              interpolate(a.latent, b.latent, 0.5, spherical=False))


def test_seed_controls_set_endpoint(qtbot, make_panel, tiny_model_factory):
    model = tiny_model_factory("dcgan")
    panel = make_panel(model)
    well = panel.wells["B"]
    well.seed_box.setValue(42)
    with qtbot.waitSignal(panel.session.endpoints_changed, timeout=10000):
        qtbot.mouseClick(well.use_seed, Qt.MouseButton.LeftButton)
    end = panel.session.endpoint_b
    assert end.seed == 42 and end.label == "seed 42"
    np.testing.assert_array_equal(end.face, model.sample(1, seed=42)[0])
    wait_idle(qtbot, panel)
    np.testing.assert_array_equal(well.face.face(), end.face)


def test_dropping_a_latent_sets_the_endpoint(qtbot, make_panel, tiny_model_factory):
    model = tiny_model_factory("dcgan")
    panel = make_panel(model)
    latent = model.seeds_to_latents([7])[0]
    with qtbot.waitSignal(panel.session.endpoints_changed, timeout=10000):
        panel.drop_latent("A", latent, "from the map")
    np.testing.assert_array_equal(panel.session.endpoint_a.latent, latent)

    # The same through a real drop event carrying the mime format other panels drag.
    other = model.seeds_to_latents([9])[0]
    well = panel.wells["B"]
    mime = latent_mime_data(other, "seed 9")  # kept referenced: the event does not own it
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(panel.session.endpoints_changed, timeout=10000):
        well.dropEvent(event)
    assert panel.session.endpoint_b.label == "seed 9"
    np.testing.assert_array_equal(panel.session.endpoint_b.latent, other)
    np.testing.assert_array_equal(panel.session.endpoint_b.face, model.decode(other)[0])


def _face_file(tmp_path, model) -> str:
    path = tmp_path / "face.png"
    Image.fromarray(model.sample(1, seed=3)[0]).resize((48, 48)).save(path)
    return str(path)


def test_dropping_an_image_file_on_an_ae_encodes_it(qtbot, make_panel, tiny_model_factory, tmp_path):
    model = tiny_model_factory("ae")
    panel = make_panel(model)
    path = _face_file(tmp_path, model)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(path)])
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(panel.session.endpoints_changed, timeout=10000):
        panel.wells["B"].dropEvent(event)
    expected = model.encode(np.array(load_image_file(path, model.resolution)))[0]
    np.testing.assert_allclose(panel.session.endpoint_b.latent, expected, rtol=1e-5, atol=1e-6)
    assert panel.session.endpoint_b.label == "face.png"


def test_dropping_an_image_on_a_gan_inverts_it_with_progress(qtbot, make_panel, tiny_model_factory, tmp_path,
                                                             monkeypatch):
    monkeypatch.setattr(morph_module, "INVERT_STEPS", 30)
    model = tiny_model_factory("dcgan")
    panel = make_panel(model)
    well = panel.wells["A"]
    with qtbot.waitSignal(panel.session.endpoints_changed, timeout=20000):
        panel.drop_image_file("A", _face_file(tmp_path, model))
        assert well.progress.isVisible() and well.cancel.isVisible()
    assert panel.session.endpoint_a.label == "face.png"
    assert not well.progress.isVisible()


def test_cancelling_an_inversion_keeps_the_best_face_so_far(qtbot, make_panel, tiny_model_factory, tmp_path,
                                                            monkeypatch):
    monkeypatch.setattr(morph_module, "INVERT_STEPS", 5000)  # far more than the test waits for
    model = tiny_model_factory("dcgan")
    torch.manual_seed(1)
    with torch.no_grad():  # a fresh tiny generator draws nearly the same grey for every latent: vary it
        for p in model.generator.parameters():
            if p.ndim == 4:
                p.normal_(0.0, 0.25)
    panel = make_panel(model)
    well, before = panel.wells["A"], panel.session.endpoint_a
    path = _face_file(tmp_path, model)
    statuses = []
    panel.session.status_message.connect(statuses.append)
    panel.drop_image_file("A", path)
    qtbot.waitUntil(lambda: well.progress.value() >= 1, timeout=20000)  # 50 steps done
    with qtbot.waitSignal(panel.session.endpoints_changed, timeout=10000):
        qtbot.mouseClick(well.cancel, Qt.MouseButton.LeftButton)
    end = panel.session.endpoint_a
    assert end is not before and end.label.startswith("face.png (stopped at step ") and "best face so far" in end.label
    assert "stopped at step" in statuses[-1] and "best face so far" in statuses[-1]
    np.testing.assert_array_equal(end.face, model.decode(end.latent)[0])
    np.testing.assert_array_equal(well.face.face(), end.face)
    assert not well.progress.isVisible() and well.use_seed.isEnabled()
    # The kept latent is the optimisation's progress, not its start (the best of 8 seeds): closer to the image.
    target = model.images_to_tensor(np.array(load_image_file(path, model.resolution))[None])

    def pixel_error(latents: np.ndarray) -> float:
        with torch.no_grad():
            faces = model.decode_tensor(torch.from_numpy(latents)).float()
        return float(((faces - target) ** 2).flatten(1).mean(1).min())

    assert pixel_error(end.latent[None]) < pixel_error(model.latent_from_noise(seeds_to_z(range(8), model.latent_dim)))


def test_a_bad_image_file_is_reported(qtbot, make_panel, tiny_model_factory, tmp_path):
    panel = make_panel(tiny_model_factory("ae"))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with qtbot.waitSignal(panel.session.error_raised, timeout=10000) as blocker:
        panel.drop_image_file("A", bad)
    assert "broken.png" in blocker.args[1]


def test_exports_png_strip_and_pingpong_gif(qtbot, make_panel, tiny_model_factory, tmp_path):
    panel = make_panel(tiny_model_factory("dcgan"))
    with qtbot.waitSignal(panel.strip_rendered, timeout=10000):
        panel.frames_box.setValue(5)
    png = tmp_path / "strip.png"
    task = panel.export_png(png)
    qtbot.waitUntil(lambda: not task.is_running(), timeout=10000)
    with Image.open(png) as im:
        assert im.width > 5 * im.height // 2  # one row of five frames
    with qtbot.waitSignal(panel.gif_saved, timeout=10000):
        panel.export_gif(tmp_path / "morph.gif")
    with Image.open(tmp_path / "morph.gif") as gif:
        assert gif.n_frames == 2 * 5 - 2


def test_enter_in_a_seed_box_applies_the_seed(qtbot, make_panel, tiny_model_factory):
    # Issue 10, bug 10: Enter in a morph seed box did nothing.
    model = tiny_model_factory("dcgan")
    panel = make_panel(model)
    line = panel.wells["A"].seed_box.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, "321")
    with qtbot.waitSignal(panel.session.endpoints_changed, timeout=10000):
        qtbot.keyClick(line, Qt.Key.Key_Return)
    assert panel.session.endpoint_a.label == "seed 321"
    np.testing.assert_array_equal(panel.session.endpoint_a.face, model.sample(1, seed=321)[0])


def test_open_image_button_makes_an_endpoint_from_a_file(qtbot, make_panel, tiny_model_factory, tmp_path,
                                                         monkeypatch):
    # Issue 10, bug 2: a file could only be dragged from a file manager.
    from PySide6.QtWidgets import QFileDialog

    model = tiny_model_factory("ae")
    panel = make_panel(model)
    path = _face_file(tmp_path, model)
    asked = []

    def fake_dialog(parent, title, start, file_filter):  # noqa: ANN001, ANN202 - QFileDialog's signature
        asked.append(start)
        return path, file_filter

    monkeypatch.setattr(QFileDialog, "getOpenFileName", fake_dialog)
    with qtbot.waitSignal(panel.session.endpoints_changed, timeout=10000):
        qtbot.mouseClick(panel.wells["B"].open_button, Qt.MouseButton.LeftButton)
    assert panel.session.endpoint_b.label == "face.png"
    expected = model.encode(np.array(load_image_file(path, model.resolution)))[0]
    np.testing.assert_allclose(panel.session.endpoint_b.latent, expected, rtol=1e-5, atol=1e-6)
    qtbot.mouseClick(panel.wells["A"].open_button, Qt.MouseButton.LeftButton)  # the next dialog starts there
    assert asked[-1] == str(tmp_path)
