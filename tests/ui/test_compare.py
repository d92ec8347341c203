"""Compare: two models on one seed box, one slider and one offset; each side shows its own model's faces.

A morph end may be an image file that each side encodes (AE, VAE) or inverts (GANs) for itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from waifu_studio.cli import main as cli_main
from waifu_studio.core.data import load_image_file
from waifu_studio.core.explore.latent import interpolate
from waifu_studio.core.io.checkpoint import load_checkpoint, save_checkpoint
from waifu_studio.core.io.recipe import decode_array, read_recipe, round_latents
from waifu_studio.ui.widgets import compare_endpoints as endpoints_module
from waifu_studio.ui.widgets.compare import SLIDER_MAX, ComparePanel


def open_panel(qtbot, session, paths):
    panel = ComparePanel(session)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    for side, path in paths.items():
        with qtbot.waitSignal(panel.rendered, timeout=10000, check_params_cb=lambda s, side=side: s == side):
            panel.open_model(side, path)
    return panel, {side: load_checkpoint(path) for side, path in paths.items()}


@pytest.fixture
def compared(qtbot, session, tiny_checkpoint):
    panel, models = open_panel(qtbot, session, {"A": tiny_checkpoint("dcgan"), "B": tiny_checkpoint("vae", width=4)})
    yield panel, models
    panel.close()


def wait_both(qtbot, panel, check) -> None:
    qtbot.waitUntil(lambda: panel.jobs.is_idle() and check(), timeout=10000)


def test_one_seed_box_shows_each_models_faces_for_the_same_seeds(qtbot, compared):
    panel, models = compared
    line = panel.seed_box.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, "123")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    wait_both(qtbot, panel, lambda: panel.state.view.seed == 123)
    for side, model in models.items():
        np.testing.assert_array_equal(panel.grids[side].faces(), model.decode(model.seeds_to_latents(range(123, 139))))
    assert not np.array_equal(panel.grids["A"].faces(), panel.grids["B"].faces())


def test_one_slider_moves_both_morphs_and_one_offset_edits_both(qtbot, compared):
    panel, models = compared
    panel.slider.setValue(SLIDER_MAX // 4)
    wait_both(qtbot, panel, lambda: panel.state.view.t == 0.25)
    for side, model in models.items():
        a, b = model.seeds_to_latents([0, 1])
        expected = model.decode(interpolate(a, b, 0.25, spherical=True, center=model.latent_mean))
        np.testing.assert_array_equal(panel.morph_faces[side].faces(), expected)
    before = {side: panel.grids[side].faces().copy() for side in "AB"}
    panel.dim_box.setValue(2)
    panel.offset_box.setValue(2.0)
    wait_both(qtbot, panel, lambda: panel.state.view.offset == (2, 2.0))
    for side in "AB":
        assert not np.array_equal(panel.grids[side].faces(), before[side])


def test_the_saved_comparison_reproduces(qtbot, compared, tmp_path):
    panel, _ = compared
    out = tmp_path / "compare.png"
    task = panel.export_png(out)
    qtbot.waitUntil(lambda: not task.is_running(), timeout=10000)
    assert len(read_recipe(out)["checkpoints"]) == 2
    copy = tmp_path / "copy.png"
    assert cli_main(["reproduce", str(out), "--out", str(copy)]) == 0
    assert copy.read_bytes() == out.read_bytes()


def test_the_tab_opens_with_the_apps_model_as_a(qtbot, session, tiny_checkpoint):
    path = tiny_checkpoint("dcgan")
    session.set_model(load_checkpoint(path), path)
    panel = ComparePanel(session)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.rendered, timeout=10000, check_params_cb=lambda s: s == "A"):
        panel.show()
    model = session.model
    np.testing.assert_array_equal(panel.grids["A"].faces(), model.decode(model.seeds_to_latents(range(16))))
    assert panel.pickers["A"].currentData() == str(path)
    assert panel.grids["B"].faces() is None or len(panel.grids["B"].faces()) == 0
    panel.close()


# ----------------------------------------------------------------------------- image morph ends


@pytest.fixture
def varied_checkpoint(tmp_path, tiny_model_factory):
    """A tiny checkpoint whose decoder draws visibly different faces for different latents (a freshly
    initialised one draws nearly the same grey for all, which would hide a morph drawn from the wrong end)."""

    def make(family: str, **kwargs):
        model = tiny_model_factory(family, **kwargs)
        torch.manual_seed(1)
        with torch.no_grad():
            for p in model.parameters():
                if p.ndim == 4:
                    p.normal_(0.0, 0.25)
        if family == "ae":  # a fitted prior, as a trained AE has
            model.prior.fit_gaussian(np.random.default_rng(0).normal(size=(64, model.latent_dim)).astype(np.float32))
        return save_checkpoint(model, tmp_path / f"varied-{family}.safetensors")

    return make


def write_image(tmp_path, name="face.png"):
    path = tmp_path / name
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(path)
    return path


def pick_image(qtbot, monkeypatch, panel, end, path) -> None:
    """Click morph end ``end``'s "Image..." button and choose ``path`` in the file dialog."""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *_a, **_k: (str(path), "")))
    qtbot.mouseClick(panel.endpoints.image_buttons[end], Qt.MouseButton.LeftButton)


def drop_image(panel, end, path) -> None:
    """Drag ``path`` (a file from the file manager) onto morph end ``end``'s "Image..." button and drop it."""
    button, mime = panel.endpoints.image_buttons[end], QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    args = (QPointF(5, 5).toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(*args)
    QApplication.sendEvent(button, enter)  # Qt delivers a drop only to the widget that accepted the drag
    assert enter.isAccepted()
    QApplication.sendEvent(button, QDropEvent(QPointF(5, 5), *args[1:]))


def morph_drawn(panel) -> bool:
    return panel.jobs.is_idle() and all(panel.morph_faces[side].count() == 1 for side in "AB")


def assert_close_faces(shown, expected) -> None:
    # Within 2 uint8 levels: slerp at t = 0 or 1 returns the end latent up to float rounding, and the
    # display decode (bf16 where the CPU has it, any thread count) may round that to a neighbouring level.
    assert np.abs(shown.astype(int) - expected.astype(int)).max() <= 2


def test_an_image_end_is_each_models_own_encoding_and_the_slider_never_encodes_again(
        qtbot, session, varied_checkpoint, tmp_path, monkeypatch):
    panel, models = open_panel(qtbot, session, {"A": varied_checkpoint("ae"), "B": varied_checkpoint("vae", width=4)})
    calls = []
    real_encode = endpoints_module.encode_file
    monkeypatch.setattr(endpoints_module, "encode_file", lambda *a: calls.append(a[1]) or real_encode(*a))
    image = write_image(tmp_path)
    pick_image(qtbot, monkeypatch, panel, "B", image)
    panel.slider.setValue(SLIDER_MAX)
    qtbot.waitUntil(lambda: panel.state.view.morph_images[1] is not None and panel.state.view.t == 1.0
                    and morph_drawn(panel), timeout=10000)
    assert panel.endpoints.names["B"].text() == "face.png" and not panel.morph_b.isEnabled()
    for side, model in models.items():
        latent = panel.state.image_latents(side)[1]
        expected = model.encode(np.array(load_image_file(image, model.resolution)))[0]
        np.testing.assert_allclose(latent, expected, rtol=1e-5, atol=1e-6)
        assert_close_faces(panel.morph_faces[side].faces()[0], model.decode(expected)[0])
        seed_face = model.decode(model.seeds_to_latents([1]))[0].astype(int)  # what the seed end drew
        assert np.abs(panel.morph_faces[side].faces()[0].astype(int) - seed_face).max() > 10
    assert calls == [str(image), str(image)]  # one encode per side
    panel.slider.setValue(SLIDER_MAX // 3)
    qtbot.waitUntil(lambda: panel.state.view.t == (SLIDER_MAX // 3) / SLIDER_MAX and morph_drawn(panel),
                    timeout=10000)
    assert len(calls) == 2  # moving the slider reuses each side's latent

    qtbot.mouseClick(panel.endpoints.seed_buttons["B"], Qt.MouseButton.LeftButton)
    panel.slider.setValue(SLIDER_MAX)
    qtbot.waitUntil(lambda: panel.state.view.morph_images == (None, None) and panel.state.view.t == 1.0
                    and morph_drawn(panel), timeout=10000)
    assert panel.morph_b.isEnabled() and panel.endpoints.names["B"].text() == ""
    for side, model in models.items():
        assert_close_faces(panel.morph_faces[side].faces()[0], model.decode(model.seeds_to_latents([1]))[0])
    panel.close()


def test_a_gan_side_inverts_the_image_with_progress(qtbot, session, varied_checkpoint, tiny_checkpoint, tmp_path,
                                                    monkeypatch):
    monkeypatch.setattr(endpoints_module, "INVERT_STEPS", 20)
    panel, models = open_panel(qtbot, session, {"A": varied_checkpoint("dcgan"), "B": tiny_checkpoint("vae")})
    bar, seen = panel.endpoints.progress["A"], []
    bar.valueChanged.connect(lambda value: seen.append((value, bar.isVisible())))
    panel.slider.setValue(0)
    pick_image(qtbot, monkeypatch, panel, "A", write_image(tmp_path))
    qtbot.waitUntil(lambda: panel.state.view.morph_images[0] is not None and panel.state.view.t == 0.0
                    and morph_drawn(panel), timeout=20000)
    assert (100, True) in seen and any(0 < value < 100 and shown for value, shown in seen)
    assert not bar.isVisible()
    dcgan = models["A"]
    latent = panel.state.image_latents("A")[0]
    assert latent.shape == (dcgan.latent_dim,) and not np.allclose(latent, dcgan.seeds_to_latents([0])[0])
    assert_close_faces(panel.morph_faces["A"].faces()[0], dcgan.decode(latent)[0])
    seed_face = dcgan.decode(dcgan.seeds_to_latents([0]))[0].astype(int)  # what the seed end drew
    assert np.abs(panel.morph_faces["A"].faces()[0].astype(int) - seed_face).max() > 10
    panel.close()


def test_returning_to_the_seed_cancels_a_running_inversion(qtbot, compared, tmp_path, monkeypatch):
    monkeypatch.setattr(endpoints_module, "INVERT_STEPS", 1_000_000)  # far more than the test waits for
    panel, _ = compared
    pick_image(qtbot, monkeypatch, panel, "A", write_image(tmp_path))
    qtbot.waitUntil(lambda: panel.endpoints.progress["A"].isVisible(), timeout=10000)
    qtbot.mouseClick(panel.endpoints.seed_buttons["A"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: morph_drawn(panel), timeout=10000)
    assert not panel.endpoints.progress["A"].isVisible() and panel.state.image_latents("A") == (None, None)


def test_another_model_on_a_side_cancels_its_inversion_and_finds_its_own_latent(qtbot, compared, tiny_checkpoint,
                                                                                tmp_path, monkeypatch):
    monkeypatch.setattr(endpoints_module, "INVERT_STEPS", 1_000_000)  # far more than the test waits for
    panel, _ = compared
    image = write_image(tmp_path)
    pick_image(qtbot, monkeypatch, panel, "A", image)
    qtbot.waitUntil(lambda: panel.endpoints.progress["A"].isVisible(), timeout=10000)
    ae_path = tiny_checkpoint("ae")
    panel.open_model("A", ae_path)
    qtbot.waitUntil(lambda: panel.state.models["A"].family == "ae" and morph_drawn(panel), timeout=10000)
    ae = load_checkpoint(ae_path)
    expected = ae.encode(np.array(load_image_file(image, ae.resolution)))[0]
    np.testing.assert_allclose(panel.state.image_latents("A")[0], expected, rtol=1e-5, atol=1e-6)
    assert not panel.endpoints.progress["A"].isVisible()


def test_a_bad_image_file_is_reported_and_the_end_stays(qtbot, compared, tmp_path, monkeypatch):
    panel, _ = compared
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    before = panel.morph_faces["A"].faces()
    with qtbot.waitSignal(panel.session.error_raised, timeout=10000) as blocker:
        pick_image(qtbot, monkeypatch, panel, "B", bad)
    assert "bad.png" in blocker.args[1]
    qtbot.waitUntil(panel.jobs.is_idle, timeout=10000)
    assert panel.state.view.morph_images == (None, None) and panel.morph_b.isEnabled()
    assert panel.endpoints.names["B"].text() == ""
    np.testing.assert_array_equal(panel.morph_faces["A"].faces(), before)


def test_a_comparison_with_an_image_end_records_each_models_latent_and_reproduces(qtbot, compared, tmp_path,
                                                                                monkeypatch):
    monkeypatch.setattr(endpoints_module, "INVERT_STEPS", 10)
    panel, _ = compared
    image = write_image(tmp_path)
    drop_image(panel, "B", image)
    qtbot.waitUntil(lambda: panel.state.view.morph_images[1] is not None and morph_drawn(panel), timeout=20000)
    out = tmp_path / "compare.png"
    task = panel.export_png(out)
    qtbot.waitUntil(lambda: not task.is_running(), timeout=10000)
    morph = read_recipe(out)["compare"]["morph"]
    assert morph["a"] == {"seed": 0} and morph["b"]["file"] == "face.png"
    from waifu_studio.core.io.files import file_sha256

    assert morph["b"]["file_sha256"] == file_sha256(image)
    for side, part in zip("AB", morph["b"]["latents"], strict=True):
        np.testing.assert_array_equal(decode_array(part), round_latents(panel.state.image_latents(side)[1]))
    copy = tmp_path / "copy.png"
    assert cli_main(["reproduce", str(out), "--out", str(copy)]) == 0
    assert copy.read_bytes() == out.read_bytes()
