"""The reconstructions panel: PSNR per face and overall for an AE; a clear message for GANs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from waifu_studio.core.data import builtin_faces
from waifu_studio.core.quality.metrics import psnr, recon_metrics
from waifu_studio.ui.widgets.reconstructions import ReconstructionsPanel


@pytest.fixture
def make_panel(qtbot, session):
    panels = []

    def make() -> ReconstructionsPanel:
        panel = ReconstructionsPanel(session)
        qtbot.addWidget(panel)
        panel.resize(1000, 700)
        panel.show()
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


def test_ae_shows_faces_with_their_reconstructions_and_psnr(qtbot, make_panel, session, tiny_model_factory, tmp_path):
    model = tiny_model_factory("ae")
    panel = make_panel()
    with qtbot.waitSignal(panel.computed, timeout=30000):
        session.set_model(model)  # the built-in set is reconstructed at once
    result = panel.result
    faces = builtin_faces(count=64, resolution=32).images
    np.testing.assert_array_equal(result.faces, faces)
    np.testing.assert_array_equal(result.recons, model.reconstruct(faces))
    assert result.psnrs.shape == (64,)
    assert result.psnrs[5] == pytest.approx(psnr(faces[5], result.recons[5]))
    overall = recon_metrics(model, faces)["psnr"]
    assert f"{overall:.2f} dB" in panel.summary_label.text()
    assert not panel.message_label.isVisible() and panel.scroll.isVisible()
    assert panel.grid_label.pixmap().width() == result.grid.shape[1]

    path = panel.export_png(tmp_path / "recon.png")
    with Image.open(path) as im:
        assert im.size == (result.grid.shape[1], result.grid.shape[0])


def test_folder_of_faces(qtbot, make_panel, session, tiny_model_factory, tmp_path):
    model = tiny_model_factory("vae")
    folder = tmp_path / "faces"
    folder.mkdir()
    for j, face in enumerate(builtin_faces(count=6, resolution=32, seed=3).images):
        Image.fromarray(face).save(folder / f"f{j}.png")
    panel = make_panel()
    with qtbot.waitSignal(panel.computed, timeout=30000):
        session.set_model(model)
    with qtbot.waitSignal(panel.computed, timeout=30000):
        panel.set_folder(folder)
    assert len(panel.result.faces) == 6
    assert "6 faces from faces" in panel.summary_label.text()


def test_gan_shows_the_encoder_message(qtbot, make_panel, session, tiny_model_factory):
    panel = make_panel()
    session.set_model(tiny_model_factory("wgan-gp"))
    assert panel.message_label.isVisible()
    assert "need an encoder (AE or VAE)" in panel.message_label.text()
    assert not panel.compute_button.isEnabled()
    assert panel.export_png("unused.png") is None
