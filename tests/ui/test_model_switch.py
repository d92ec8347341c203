"""Issue 10, bug 1: the morph endpoints after a model switch.

A latent belongs to the model that made it: after a switch, a seed endpoint is decoded again by
the new model, an image endpoint is inverted (or encoded) again, and a map point or an edited face
is marked as coming from the other model; no latent is decoded by another model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from waifu_studio.core.io.checkpoint import load_checkpoint, save_checkpoint
from waifu_studio.ui.widgets import morph as morph_module
from waifu_studio.ui.widgets.morph import MorphPanel


@pytest.fixture
def checkpoint(tmp_path, tiny_model_factory):
    """A tiny checkpoint of ``family`` whose weights differ with ``seed`` (so two models draw differently)."""

    def make(family: str, seed: int, **kwargs):
        model = tiny_model_factory(family, **kwargs)
        with torch.no_grad():
            generator = torch.Generator().manual_seed(seed)
            for p in model.parameters():
                p.add_(0.2 * torch.randn(p.shape, generator=generator))
        if family == "ae":  # a fitted prior, as a trained AE has
            model.prior.fit_gaussian(np.random.default_rng(seed).normal(size=(64, model.latent_dim)).astype(np.float32))
        path = save_checkpoint(model, tmp_path / f"{family}-{seed}.safetensors")
        return load_checkpoint(path), path

    return make


@pytest.fixture
def panel(qtbot, session):
    widget = MorphPanel(session)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    yield widget
    widget.shutdown()


def switch(qtbot, panel, loaded) -> None:
    model, path = loaded
    panel.session.set_model(model, path)
    qtbot.waitUntil(lambda: panel.jobs.is_idle(), timeout=30_000)


def set_seeds(qtbot, panel, a: int, b: int) -> None:
    for which, seed in (("A", a), ("B", b)):
        panel.set_endpoint_from_seed(which, seed)
    qtbot.waitUntil(lambda: panel.jobs.is_idle() and panel.session.endpoint_b.seed == b, timeout=20_000)


def test_seed_endpoints_are_drawn_by_the_new_model(qtbot, panel, checkpoint):
    switch(qtbot, panel, checkpoint("dcgan", 1))
    set_seeds(qtbot, panel, 3, 5)
    ae, path = checkpoint("ae", 2)  # same latent size, its own prior: seed 3 is another latent here
    switch(qtbot, panel, (ae, path))
    for which, seed in (("A", 3), ("B", 5)):
        end = panel.session.morph.get(which)
        expected = ae.seeds_to_latents([seed])[0]
        assert end.label == f"seed {seed}"
        np.testing.assert_array_equal(end.latent, expected)
        np.testing.assert_array_equal(panel.wells[which].face.face(), ae.decode(expected)[0])


def test_an_image_endpoint_is_inverted_again_by_the_new_gan(qtbot, panel, checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(morph_module, "INVERT_STEPS", 20)
    dcgan = checkpoint("dcgan", 1)
    switch(qtbot, panel, dcgan)
    image = tmp_path / "face.png"
    Image.fromarray(dcgan[0].sample(1, seed=3)[0]).resize((48, 48)).save(image)
    panel.drop_image_file("A", image)
    qtbot.waitUntil(lambda: panel.jobs.is_idle() and panel.session.endpoint_a.label == "face.png", timeout=20_000)
    old = panel.session.endpoint_a.latent

    wgan, path = checkpoint("wgan-gp", 2)  # same latent size: the old code decoded DCGAN's latent with WGAN-GP
    panel.session.set_model(wgan, path)
    assert panel.wells["A"].progress.isVisible()  # the new inversion shows its progress
    qtbot.waitUntil(lambda: panel.jobs.is_idle(), timeout=30_000)
    end = panel.session.endpoint_a
    assert end.label == "face.png" and end.model_key == panel.session.model_key
    assert not np.array_equal(end.latent, old)
    np.testing.assert_array_equal(panel.wells["A"].face.face(), wgan.decode(end.latent)[0])


def test_a_map_point_from_another_model_is_marked_and_never_morphed(qtbot, panel, checkpoint):
    first = checkpoint("dcgan", 1)
    switch(qtbot, panel, first)
    latent = first[0].seeds_to_latents([9])[0]
    panel.session.set_endpoint("B", latent, first[0].decode(latent)[0], "map point", kind="map")
    qtbot.waitUntil(lambda: panel.jobs.is_idle(), timeout=20_000)
    assert panel.strip_faces().shape[0] == 8

    switch(qtbot, panel, checkpoint("wgan-gp", 2))
    caption = panel.wells["B"].caption.text()
    assert "map point" in caption and "another model" in caption
    assert panel.strip_faces().shape[0] == 0 and panel.preview_face() is None


def test_different_latent_sizes_keep_each_endpoint_seed_not_the_typed_one(qtbot, panel, checkpoint):
    switch(qtbot, panel, checkpoint("dcgan", 1))
    set_seeds(qtbot, panel, 3, 5)
    box = panel.wells["B"].seed_box
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), "77")  # typed, never applied

    other, path = checkpoint("dcgan", 2, latent_dim=24)
    switch(qtbot, panel, (other, path))
    assert [panel.session.morph.get(w).label for w in "AB"] == ["seed 3", "seed 5"]
    np.testing.assert_array_equal(panel.session.endpoint_b.latent, other.seeds_to_latents([5])[0])
