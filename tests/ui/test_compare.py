"""Compare: two models on one seed box, one slider and one offset; each side shows its own model's faces."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from waifu_studio.cli import main as cli_main
from waifu_studio.core.explore.latent import interpolate
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.io.recipe import read_recipe
from waifu_studio.ui.widgets.compare import SLIDER_MAX, ComparePanel


@pytest.fixture
def compared(qtbot, session, tiny_checkpoint):
    paths = {"A": tiny_checkpoint("dcgan"), "B": tiny_checkpoint("vae", width=4)}
    panel = ComparePanel(session)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    for side, path in paths.items():
        with qtbot.waitSignal(panel.rendered, timeout=10000, check_params_cb=lambda s, side=side: s == side):
            panel.open_model(side, path)
    yield panel, {side: load_checkpoint(path) for side, path in paths.items()}
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
