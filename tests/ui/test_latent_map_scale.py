"""The latent map at real scale: progressive display, the code cache, lasso selection and what it does,
big maps drawn as density with exact hover/click, and a tab that fits 1024x700."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QSlider

from waifu_studio.core.config import DataConfig
from waifu_studio.core.data import load_dataset
from waifu_studio.core.explore import map_stream
from waifu_studio.core.explore.user_directions import saved_directions
from waifu_studio.ui.widgets import map_view

from .test_latent_map import computed, isolated_point, widget_pos


@pytest.fixture
def folder(tmp_path, tiny_model_factory):
    faces = tiny_model_factory("dcgan").sample(300, seed=3)
    path = tmp_path / "faces"
    path.mkdir()
    for i, face in enumerate(faces):
        Image.fromarray(face).save(path / f"f{i:03d}.png")
    return path


def spy_encode(model, monkeypatch) -> list[int]:
    calls: list[int] = []
    real = model.encode
    monkeypatch.setattr(model, "encode", lambda images, *a, **k: calls.append(len(images)) or real(images, *a, **k))
    return calls


def test_points_appear_while_encoding_then_the_cache_skips_encoding(qtbot, make_panel, tiny_model_factory, folder,
                                                                    monkeypatch, gui_thread_indexes):
    monkeypatch.setattr(map_stream, "REFRESH_S", 0.0)
    model = tiny_model_factory("ae")
    calls = spy_encode(model, monkeypatch)
    panel = make_panel(model)
    partial: list[tuple[int, str]] = []
    panel.partial_drawn.connect(lambda n: partial.append((len(panel.layout()), panel.status.text())))
    computed(qtbot, panel, source=str(folder), method="pca")
    # The first batch is on screen (or, while a slow folder is still read, a sample of its files)...
    assert partial and partial[0][0] == map_stream.FIRST_BATCH and "/ 300 faces" in partial[0][1]
    encoding = [text for n, text in partial if n < 300 and text.startswith("encoding")]
    assert encoding and "encoding 64 / 300 faces" in encoding[0] and "left" in encoding[0]  # ...with progress
    assert len(panel.layout()) == 300 and sum(calls) >= 300
    assert gui_thread_indexes == []  # each partial map came with its grid index, built in the job
    # Another method, the same folder: the codes come from the disk cache, nothing is encoded.
    calls.clear()
    partial.clear()
    computed(qtbot, panel, source=str(folder), method="tsne", timeout=120000)
    assert calls == [] and partial == [] and len(panel.layout()) == 300
    assert "codes from the cache" in panel.status.text() or "t-SNE" in panel.status.text()


def shift_drag(qtbot, widget, points: list[QPoint]) -> None:
    """Press, move with the button held (QTest's mouseMove carries no buttons), release; shift held."""
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    left, shift = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier
    qtbot.mousePress(widget, left, shift, points[0])
    for p in points[1:]:
        local = QPointF(p)
        event = QMouseEvent(QEvent.Type.MouseMove, local, QPointF(widget.mapToGlobal(p)), Qt.MouseButton.NoButton,
                            left, shift)
        QApplication.sendEvent(widget, event)
        qtbot.wait(30)  # pyqtgraph drops mouse moves closer than 10 ms apart (mouseRateLimit)
    qtbot.mouseRelease(widget, left, shift, points[-1])


def box_around(panel, count: int, side: str) -> tuple[list[QPoint], np.ndarray]:
    """A screen box holding the ``count`` points furthest to one side, and those points' indices."""
    layout = panel.layout()
    order = np.argsort(layout[:, 0] if side == "left" else -layout[:, 0])
    inside = np.sort(order[:count])
    cut = (layout[order[count - 1], 0] + layout[order[count], 0]) / 2  # between the last inside and the next
    vb = panel.view.getViewBox()
    from PySide6.QtCore import QPointF

    def screen(x, y):
        return panel.view.mapFromScene(vb.mapViewToScene(QPointF(x, y)))

    x_far = -1.04 if side == "left" else 1.04
    corners = [screen(x_far, 1.04), screen(cut, 1.04), screen(cut, -1.04), screen(x_far, -1.04)]
    return corners, inside


def test_lasso_selects_the_points_inside_and_makes_a_direction(qtbot, make_panel, tiny_model_factory, session):
    model = tiny_model_factory("dcgan")
    panel = computed(qtbot, make_panel(model), n=300, method="pca")
    trail, expected = box_around(panel, 40, "left")
    trail.append(trail[0] + QPoint(1, 0))  # the lasso closes on itself
    shift_drag(qtbot, panel.view.viewport(), trail)
    np.testing.assert_array_equal(panel.selection.indices, expected)
    assert panel.column.isVisible() and panel.column.count_label.text().startswith("<b>40 selected")
    assert panel.column.grid.count() == 36  # an evenly spread 36 of the 40
    qtbot.mouseClick(panel.column.plus_button, Qt.MouseButton.LeftButton)

    panel.shape_box.setCurrentText("Box")
    corners, _ = box_around(panel, 30, "right")
    shift_drag(qtbot, panel.view.viewport(), [corners[0], corners[1], corners[2]])
    # The box as drawn (whole pixels) in map coordinates: exactly the points inside it are selected.
    vb = panel.view.getViewBox()
    (x0, y0), (x1, y1) = ((p.x(), p.y()) for p in (vb.mapSceneToView(panel.view.mapToScene(c))
                                                    for c in (corners[0], corners[2])))
    layout = panel.layout()
    other = np.flatnonzero((layout[:, 0] >= min(x0, x1)) & (layout[:, 0] <= max(x0, x1))
                           & (layout[:, 1] >= min(y0, y1)) & (layout[:, 1] <= max(y0, y1)))
    assert 25 <= len(other) <= 35
    np.testing.assert_array_equal(panel.selection.indices, other)
    qtbot.mouseClick(panel.column.minus_button, Qt.MouseButton.LeftButton)
    assert panel.column.make_button.isEnabled()
    qtbot.keyClicks(panel.column.name_edit, "left minus right")
    qtbot.mouseClick(panel.column.make_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Saved direction \u201cleft minus right\u201d" in panel.status.text(), timeout=10000)
    assert panel.column.name_edit.text() == ""
    saved = saved_directions(model)
    assert [d.name for d in saved] == ["left minus right"]
    latents = panel.source.latents
    np.testing.assert_allclose(saved[0].vector, latents[expected].mean(0) - latents[other].mean(0), atol=1e-5)

    # Directions lists it as a slider; moving it moves the face along the difference of the means.
    from waifu_studio.ui.widgets.directions import SLIDER_STEPS, DirectionsPanel

    directions = DirectionsPanel(session)
    qtbot.addWidget(directions)
    directions.show()
    qtbot.waitUntil(lambda: "left minus right" in [w.text() for w in directions.saved_box.findChildren(QLabel)],
                    timeout=10000)
    slider = directions.saved_box.findChildren(QSlider)[0]
    before = directions.edited_latent()
    slider.setValue(SLIDER_STEPS)
    np.testing.assert_allclose(directions.edited_latent() - before, saved[0].vector, atol=1e-5)
    directions.shutdown()


def test_mean_of_a_selection_becomes_morph_a(qtbot, make_panel, tiny_model_factory, session):
    model = tiny_model_factory("dcgan")
    panel = computed(qtbot, make_panel(model), n=300, method="pca")
    panel.selection.set(np.arange(10))
    with qtbot.waitSignal(session.endpoints_changed, timeout=10000):
        qtbot.mouseClick(panel.column.mean_a_button, Qt.MouseButton.LeftButton)
    np.testing.assert_allclose(session.endpoint_a.latent, panel.source.latents[:10].mean(0), atol=1e-6)
    np.testing.assert_array_equal(session.endpoint_a.face, model.decode(session.endpoint_a.latent)[0])


def test_outliers_coloured_selected_and_excluded_from_training(qtbot, make_panel, tiny_model_factory, folder,
                                                               tmp_path):
    for i in range(5):  # flat squares: nothing like the model's faces
        Image.new("RGB", (32, 32), (255, 0, 255)).save(folder / f"zz_junk{i}.png")
    model = tiny_model_factory("ae")
    panel = computed(qtbot, make_panel(model), source=str(folder), method="pca")
    with qtbot.waitSignal(panel.colours_ready, timeout=60000):
        panel.colour_box.setCurrentText("Reconstruction error")
    errors = panel.colour_values()
    worst = np.sort(np.argsort(errors)[-5:])
    assert [panel.source.labels[i] for i in worst] == [f"zz_junk{i}.png" for i in range(5)]
    assert "reconstruction error" in panel.legend.text()
    panel.selection.set(worst)
    qtbot.mouseClick(panel.column.exclude_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "5 faces of this folder excluded" in panel.column.exclusion_label.text(), timeout=10000)
    assert "(5 of the selected)" in panel.column.exclusion_label.text()
    # The map crosses the excluded faces out and says how many there are.
    np.testing.assert_array_equal(np.sort(panel.view.excluded_marks()), worst)
    assert panel.controls.excluded_label.text().startswith("\u2715 5 faces")
    dataset = load_dataset(DataConfig(source=str(folder), resolution=32))
    assert len(dataset) == 300 and dataset.summary() == "300 faces, 5 excluded by you"
    assert not any(p.startswith("zz_junk") for p in dataset.paths)
    assert len(list(folder.iterdir())) == 305  # nothing in the user's folder moved
    # The map made again crosses them out from the saved list; including them again takes the crosses away.
    computed(qtbot, panel, source=str(folder), method="pca")
    qtbot.waitUntil(lambda: len(panel.view.excluded_marks()) == 5, timeout=10000)
    np.testing.assert_array_equal(np.sort(panel.view.excluded_marks()), worst)
    panel.selection.set(worst[:2])
    qtbot.mouseClick(panel.column.include_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(panel.view.excluded_marks()) == 3, timeout=10000)
    assert "3 faces of this folder excluded" in panel.column.exclusion_label.text()
    assert len(load_dataset(DataConfig(source=str(folder), resolution=32))) == 302


def test_a_big_map_is_a_density_image_with_exact_hover_and_click(qtbot, make_panel, tiny_model_factory, monkeypatch):
    # The big-map path at small scale: above 100 points, a density image and dots only for what is in view.
    monkeypatch.setattr(map_view, "SCATTER_ALL_MAX", 100)
    monkeypatch.setattr(map_view, "VISIBLE_DOTS_MAX", 60)
    model = tiny_model_factory("dcgan")
    panel = computed(qtbot, make_panel(model), n=400, method="pca")
    qtbot.waitUntil(lambda: panel.view.density.item.isVisible(), timeout=5000)
    assert len(panel.view.shown_dots()) == 0  # zoomed out: no dots, the density image
    image = panel.view.density.item.image
    assert image is not None and image.sum() > 0
    i = isolated_point(panel.layout())
    qtbot.mouseMove(panel.view.viewport(), widget_pos(panel, i))
    qtbot.waitUntil(panel.view.hover.isVisible, timeout=5000)
    assert panel.view.hover.toolTip() == f"seed {i}"
    with qtbot.waitSignal(panel.preview_rendered, timeout=10000):
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=widget_pos(panel, i))
    assert panel.preview_caption.text() == f"seed {i}"
    np.testing.assert_array_equal(panel.preview_face(), model.decode(panel.source.latents[i])[0])
    # Zoomed in on a corner: the few points in view become dots.
    x, y = (float(v) for v in panel.layout()[i])
    panel.view.getViewBox().setRange(xRange=(x - 0.05, x + 0.05), yRange=(y - 0.05, y + 0.05), padding=0)
    qtbot.waitUntil(lambda: i in set(panel.view.shown_dots().tolist()), timeout=5000)


def test_the_tab_fits_1024x700_with_umap_and_the_folder_dialog(qtbot, make_panel, tiny_model_factory, tmp_path,
                                                              monkeypatch):
    panel = make_panel(tiny_model_factory("ae"))
    panel.resize(1000, 600)  # the tab's share of a 1024x700 window
    panel.method_box.setCurrentText("UMAP")
    qtbot.wait(50)
    assert panel.minimumSizeHint().height() <= 600 and panel.height() <= 600
    export = panel.export_button
    bottom = export.mapTo(panel, QPoint(0, export.height())).y()
    assert export.isVisible() and bottom <= panel.height()

    # Choosing "Dataset folder..." opens the folder dialog; labels tell two folders named alike apart.
    chosen = [str(tmp_path / "alice" / "faces"), str(tmp_path / "bob" / "faces")]
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: chosen[0])
    panel.source_box.setFocus()
    qtbot.keyClick(panel.source_box, Qt.Key.Key_Down)
    assert panel.settings.source == "folder" and panel.settings.folder == chosen[0]
    first = panel.folder_label.text()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: chosen[1])
    qtbot.mouseClick(panel.folder_button, Qt.MouseButton.LeftButton)
    assert first != panel.folder_label.text() and "alice" in first and "bob" in panel.folder_label.text()
    # Cancelling the dialog when no folder was chosen goes back to the model's samples.
    panel.settings.folder = ""
    panel.settings.source = "prior"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "")
    qtbot.keyClick(panel.source_box, Qt.Key.Key_Down)
    assert panel.settings.source == "prior" and panel.source_box.currentIndex() == 0
