"""The Generate panel, driven like a user: typing seeds, arrow keys, grid size, clicks, export."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from waifu_studio.cli import main as cli_main
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.ui.widgets.generator import GeneratorPanel


@pytest.fixture
def model(tiny_checkpoint):
    path = tiny_checkpoint("dcgan")
    m = load_checkpoint(path)
    return path, m


@pytest.fixture
def panel(qtbot, session, model):
    path, m = model
    widget = GeneratorPanel(session)
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    with qtbot.waitSignal(widget.rendered, timeout=5000):
        session.set_model(m, path)
    yield widget
    widget.close()


def png_pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def wait_for_seeds(qtbot, panel, first: int, n: int) -> None:
    qtbot.waitUntil(lambda: panel.shown_seeds() == list(range(first, first + n)), timeout=5000)


@pytest.fixture
def fp32_decode(force_cpu_bf16):
    """Decode in fp32 like the CLI. (By default the app decodes in bf16 on CPUs with native bf16,
    a few levels of 255 off fp32 on a few pixels: tests/core/test_folded_decode.py bounds that.)"""
    force_cpu_bf16(False)


def test_typed_seed_shows_the_same_face_as_the_cli(fp32_decode, qtbot, panel, model, tmp_path):
    path, _ = model
    panel.grid_box.setCurrentIndex(0)  # 1 x 1
    wait_for_seeds(qtbot, panel, 0, 1)
    before = panel.current_faces()[0]
    line = panel.seed_box.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, "7")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    wait_for_seeds(qtbot, panel, 7, 1)
    shown = panel.current_faces()
    assert shown.shape[0] == 1
    assert not np.array_equal(shown[0], before)

    png = tmp_path / "cli.png"
    assert cli_main(["generate", "--checkpoint", str(path), "--seed", "7", "--n", "1", "--out", str(png)]) == 0
    cli = png_pixels(png)
    res = shown.shape[1]
    np.testing.assert_array_equal(cli[2:2 + res, 2:2 + res], shown[0])  # save_grid pads by 2 px


def test_arrow_up_increments_seed(qtbot, panel):
    panel.seed_box.setValue(41)
    wait_for_seeds(qtbot, panel, 41, 16)
    panel.seed_box.setFocus()
    qtbot.keyClick(panel.seed_box, Qt.Key.Key_Up)
    assert panel.seed_box.value() == 42
    wait_for_seeds(qtbot, panel, 42, 16)


def test_grid_3x3_shows_nine_sampled_faces(qtbot, panel, model):
    _, m = model
    panel.seed_box.setValue(5)
    panel.grid_box.setCurrentIndex(panel.grid_box.findData(3))
    wait_for_seeds(qtbot, panel, 5, 9)
    np.testing.assert_array_equal(panel.current_faces(), m.sample(9, 5))


def test_truncation_zero_gives_the_mean_face(qtbot, panel, model):
    _, m = model
    panel.truncation_slider.setValue(0)
    qtbot.waitUntil(lambda: panel._shown is not None and panel._shown.truncation == 0.0, timeout=5000)
    faces = panel.current_faces()
    assert np.array_equal(faces[0], faces[-1])  # every seed collapses to the centre
    np.testing.assert_array_equal(faces[0], m.decode(m.latent_mean)[0])


def test_click_sets_endpoint_a_and_shift_click_b(qtbot, panel, session):
    panel.seed_box.setValue(10)
    wait_for_seeds(qtbot, panel, 10, 16)
    grid = panel.face_widget()
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=panel.tile_center(2))
    assert session.endpoint_a is not None and session.endpoint_a.seed == 12
    np.testing.assert_array_equal(session.endpoint_a.face, panel.current_faces()[2])
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, pos=panel.tile_center(5))
    assert session.endpoint_b is not None and session.endpoint_b.seed == 15
    assert session.endpoint_a.seed == 12


def test_edit_in_directions_sets_current_latent(qtbot, panel, session, model):
    _, m = model
    wait_for_seeds(qtbot, panel, 0, 16)
    with qtbot.waitSignal(panel.edit_requested):
        panel.edit_in_directions(3)
    np.testing.assert_array_equal(session.current_latent, m.seeds_to_latents([3])[0])


def test_export_writes_grid_png(qtbot, panel, tmp_path):
    panel.grid_box.setCurrentIndex(panel.grid_box.findData(2))
    wait_for_seeds(qtbot, panel, 0, 4)
    out = tmp_path / "grid.png"
    task = panel.export_png(out)
    qtbot.waitUntil(lambda: not task.is_running(), timeout=5000)
    res = panel.current_faces().shape[1]
    assert png_pixels(out).shape == (2 * res + 3 * 2, 2 * res + 3 * 2, 3)
    panel.labels_check.setChecked(True)
    labelled = tmp_path / "labelled.png"
    task = panel.export_png(labelled)
    qtbot.waitUntil(lambda: not task.is_running(), timeout=5000)
    height, width, _ = png_pixels(labelled).shape
    assert width == 2 * res + 6 and height > 2 * res + 6  # a label strip under each row


def test_no_model_shows_nothing(qtbot, session):
    widget = GeneratorPanel(session)
    qtbot.addWidget(widget)
    assert widget.current_faces().shape[0] == 0
    widget.close()


def test_drag_payload_carries_the_latent(qtbot, panel, model):
    from waifu_studio.ui.widgets.face_tile import LATENT_MIME, face_from_mime, latent_mime_data

    _, m = model
    latent = m.seeds_to_latents([3])[0]
    mime = latent_mime_data(latent, "seed 3", face=m.decode(latent)[0], seed=3, model_key="sha256:x")
    assert mime.hasFormat(LATENT_MIME) and mime.text() == "seed 3" and mime.hasImage()
    np.testing.assert_array_equal(np.frombuffer(bytes(mime.data(LATENT_MIME)), np.float32), latent)
    dragged = face_from_mime(mime)
    assert dragged.seed == 3 and dragged.model_key == "sha256:x" and dragged.label == "seed 3"


# ----------------------------------------------------------------------------- issue 10, bugs 4, 9, 10


def test_at_start_up_a_typed_seed_near_the_maximum_never_asks_for_an_invalid_seed(qtbot, panel):
    # Bug 4: with the 4x4 grid of start-up the seed box allowed 2147483640, whose grid runs past 2^31-1.
    from waifu_studio.core.models.seeds import MAX_SEED

    errors = []
    panel.session.error_raised.connect(lambda title, message: errors.append(message))
    line = panel.seed_box.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, "2147483640")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.jobs.is_idle(), timeout=5000)
    assert not errors
    assert panel.seed_box.maximum() == MAX_SEED - 15
    assert max(panel.shown_seeds()) <= MAX_SEED


def test_the_endpoint_marks_follow_the_faces_a_and_b_not_tile_positions(qtbot, panel):
    # Bug 9: the highlight stayed on a tile position after a seed change, and only one of A/B was marked.
    wait_for_seeds(qtbot, panel, 0, 16)
    qtbot.mouseClick(panel.face_widget(), Qt.MouseButton.LeftButton, pos=panel.tile_center(5))
    qtbot.mouseClick(panel.face_widget(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                     pos=panel.tile_center(9))
    assert panel.marked_faces() == {5: "A", 9: "B"}
    panel.seed_box.setValue(3)  # seeds 3..18: seed 5 is tile 2, seed 9 is tile 6
    wait_for_seeds(qtbot, panel, 3, 16)
    assert panel.marked_faces() == {2: "A", 6: "B"}
    panel.seed_box.setValue(100)  # neither face is on screen: nothing is marked
    wait_for_seeds(qtbot, panel, 100, 16)
    assert panel.marked_faces() == {}


def test_r_randomizes_even_while_the_seed_box_has_focus(qtbot, panel):
    # Bug 9: the seed box has focus at start-up and swallowed R.
    panel.seed_box.setFocus()
    seeds = set()
    for _ in range(3):  # three random draws landing on the same seed would be a 1-in-10^18 chance
        qtbot.keyClick(panel.seed_box.lineEdit(), Qt.Key.Key_R)
        seeds.add(panel.seed_box.value())
    assert len(seeds - {0}) >= 1


def test_truncation_can_be_typed_and_reset(qtbot, panel, model):
    # Bug 10: the truncation value could only be dragged.
    _, m = model
    panel.grid_box.setCurrentIndex(0)
    wait_for_seeds(qtbot, panel, 0, 1)
    line = panel.truncation_box.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, "0.5")
    with qtbot.waitSignal(panel.rendered, timeout=5000):
        qtbot.keyClick(line, Qt.Key.Key_Return)
    assert panel.truncation_slider.value() == 50
    qtbot.waitUntil(lambda: panel.jobs.is_idle(), timeout=5000)
    np.testing.assert_array_equal(panel.current_faces()[0], m.decode(m.seeds_to_latents([0], 0.5))[0])
    with qtbot.waitSignal(panel.rendered, timeout=5000):
        qtbot.mouseClick(panel.truncation_reset, Qt.MouseButton.LeftButton)
    assert panel.truncation_box.value() == 1.0 and panel.truncation_slider.value() == 100


def test_seed_labels_show_under_the_faces(qtbot, panel):
    # Bug 10: "Seed labels" changed nothing on screen.
    panel.grid_box.setCurrentIndex(1)  # 2 x 2
    wait_for_seeds(qtbot, panel, 0, 4)
    assert panel.face_widget().labels() == []
    qtbot.mouseClick(panel.labels_check, Qt.MouseButton.LeftButton)
    assert panel.face_widget().labels() == ["0", "1", "2", "3"]
