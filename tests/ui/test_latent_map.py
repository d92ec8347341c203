"""The latent map panel: compute, click points and empty space, colours, thumbnails, hover."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, QRectF, Qt

from waifu_studio.core.explore.projection import blend_weights, nearest_points
from waifu_studio.ui.widgets.latent_map import LatentMapPanel


def computed(qtbot, panel: LatentMapPanel, timeout: int = 30000, **kwargs) -> LatentMapPanel:
    with qtbot.waitSignal(panel.map_ready, timeout=timeout):
        panel.compute(**kwargs)
    return panel


def widget_pos(panel: LatentMapPanel, i: int) -> QPoint:
    return panel.view.mapFromScene(panel.view.scene_pos_of(i))


def isolated_point(layout: np.ndarray) -> int:
    """The point farthest from its nearest neighbour (a click there hits only it)."""
    d = np.hypot(*(layout[:, None, :] - layout[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    return int(d.min(1).argmax())


def test_pca_map_of_prior_samples(qtbot, make_panel, tiny_model_factory):
    model = tiny_model_factory("dcgan")
    panel = computed(qtbot, make_panel(model), source="prior", n=300, method="pca")
    assert panel.layout().shape == (300, 2)
    assert len(panel.scatter.data) == 300
    np.testing.assert_array_equal(panel.scatter.data["data"], np.arange(300))
    assert panel.source.labels[5] == "seed 5"
    assert np.abs(panel.layout()).max() <= 1.0 + 1e-6  # normalised map fills [-1, 1]


def test_clicking_points_shows_their_faces(qtbot, make_panel, tiny_model_factory):
    model = tiny_model_factory("dcgan")
    panel = computed(qtbot, make_panel(model), n=300, method="pca")
    # A real mouse click at the point's position on screen.
    i = isolated_point(panel.layout())
    with qtbot.waitSignal(panel.preview_rendered, timeout=10000):
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=widget_pos(panel, i))
    np.testing.assert_array_equal(panel.preview_face(), model.decode(panel.source.latents[i])[0])
    assert panel.preview_caption.text() == f"seed {i}"

    # Dragging the previewed face carries that point's latent (what the morph wells accept).
    from waifu_studio.ui.widgets.face_tile import latent_from_mime

    np.testing.assert_array_equal(latent_from_mime(panel.preview.mime_data()), panel.source.latents[i])


def test_clicking_empty_space_blends_nearest_points(qtbot, make_panel, tiny_model_factory):
    model = tiny_model_factory("dcgan")
    panel = computed(qtbot, make_panel(model), n=300, method="pca")
    x, y = 0.93, -0.97
    with qtbot.waitSignal(panel.preview_rendered, timeout=10000):
        panel.click_empty(x, y)
    idx, dist = nearest_points(panel.layout(), (x, y), k=5)
    latent = (blend_weights(dist)[:, None] * panel.source.latents[idx].astype(np.float64)).sum(0).astype(np.float32)
    np.testing.assert_array_equal(panel.preview_face(), model.decode(latent)[0])
    np.testing.assert_array_equal(panel.session.current_latent, latent)


def test_tsne_shows_intermediate_layouts(qtbot, make_panel, tiny_model_factory, gui_thread_indexes):
    model = tiny_model_factory("dcgan")
    panel = make_panel(model)
    seen: list[np.ndarray] = []
    panel.layout_updated.connect(lambda: seen.append(panel.layout().copy()))
    computed(qtbot, panel, timeout=120000, n=300, method="tsne", perplexity=20)
    assert panel.intermediate_layouts >= 3
    whole = [layout for layout in seen if len(layout) == 300]  # (partial maps of the first samples come before)
    assert len(whole) >= 4 and not np.allclose(whole[0], whole[-1])  # the map visibly unfolded
    assert gui_thread_indexes == []  # every frame came with its grid index, built in the job
    # The dots on screen sit at the final layout (frames after the first move points in place)...
    drawn = np.array([[p.pos().x(), p.pos().y()] for p in panel.scatter.points()])
    np.testing.assert_allclose(drawn, panel.layout(), atol=1e-5)
    # ...and a click on a dot at its final position shows that point's face.
    i = isolated_point(panel.layout())
    with qtbot.waitSignal(panel.preview_rendered, timeout=10000):
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=widget_pos(panel, i))
    np.testing.assert_array_equal(panel.preview_face(), model.decode(panel.source.latents[i])[0])
    assert panel.layout().shape == (300, 2)


def test_colour_by_cluster_and_hue(qtbot, make_panel, tiny_model_factory):
    model = tiny_model_factory("vae")
    panel = computed(qtbot, make_panel(model), n=300, method="pca")
    with qtbot.waitSignal(panel.colours_ready, timeout=30000):
        panel.colour_box.setCurrentIndex(1)
    labels = panel.colour_values()
    assert labels.shape == (300,) and 2 <= len(np.unique(labels)) <= 8
    colours = {b.color().name() for b in panel.scatter.data["brush"]}
    assert len(colours) == len(np.unique(labels))
    with qtbot.waitSignal(panel.colours_ready, timeout=30000):
        panel.colour_box.setCurrentIndex(2)
    assert panel.colour_values().shape == (300,)


def test_set_as_a_and_b_draws_the_morph_path(qtbot, make_panel, tiny_model_factory):
    model = tiny_model_factory("dcgan")
    panel = computed(qtbot, make_panel(model), n=300, method="pca")
    for which, i in (("A", 3), ("B", 150)):
        with qtbot.waitSignal(panel.preview_rendered, timeout=10000):
            panel.click_point(i)
        qtbot.mouseClick(panel.set_a_button if which == "A" else panel.set_b_button, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(panel.session.endpoint_a.latent, panel.source.latents[3])
    np.testing.assert_array_equal(panel.session.endpoint_b.face, model.decode(panel.source.latents[150])[0])
    xs, ys = panel.view.path_line.getData()
    np.testing.assert_allclose(np.c_[xs, ys], panel.layout()[[3, 150]], atol=1e-6)
    assert panel.view.end_labels["A"].isVisible() and panel.view.end_labels["B"].isVisible()
    # An endpoint set elsewhere (not on this map) removes the path.
    panel.session.set_endpoint("B", model.seeds_to_latents([999])[0], panel.session.endpoint_b.face, "seed 999")
    assert panel.view.path_line.getData()[0] is None or len(panel.view.path_line.getData()[0]) == 0


def test_zooming_in_shows_face_thumbnails(qtbot, make_panel, tiny_model_factory):
    model = tiny_model_factory("dcgan")
    panel = computed(qtbot, make_panel(model), n=1000, method="pca")
    panel.view.update_thumbnails()
    assert panel.view.thumbnail_count() == 0  # 1000 points in view: dots only
    x, y = panel.layout()[10]
    panel.view.getViewBox().setRange(QRectF(x - 0.1, y - 0.1, 0.2, 0.2), padding=0)
    # Every visible point gets its face (made a few per pass, so the window never freezes)
    qtbot.waitUntil(lambda: 0 < panel.view.thumbnail_count() == len(panel.view.visible_indices()), timeout=5000)
    assert panel.view.thumbnail_count() <= 400
    # A thumbnail shows the face's own pixels (no per-face contrast stretch).
    shown = int(panel.view.visible_indices()[0])
    face = model.sample(1000)[shown].astype(int)  # the tiny model's faces span a narrow grey range
    pixels = panel.view.thumbnail_pixels(shown).astype(int)
    assert np.abs(pixels - face).max() <= 2  # display decodes may differ by a level (bf16, threads)
    # A wider view with a few hundred points: all of their faces arrive, over several passes.
    xy = panel.layout()
    half = 0.1
    while half < 2 and np.sum((np.abs(xy[:, 0] - x) <= half) & (np.abs(xy[:, 1] - y) <= half)) < 200:
        half *= 1.2
    panel.view.getViewBox().setRange(QRectF(x - half, y - half, 2 * half, 2 * half), padding=0)
    qtbot.waitUntil(lambda: 150 < panel.view.thumbnail_count() == len(panel.view.visible_indices()) <= 400,
                    timeout=10000)
    panel.view.getViewBox().setRange(QRectF(-1.1, -1.1, 2.2, 2.2), padding=0)
    qtbot.waitUntil(lambda: panel.view.thumbnail_count() == 0, timeout=5000)


def test_hovering_a_point_shows_its_face(qtbot, make_panel, tiny_model_factory):
    model = tiny_model_factory("dcgan")
    panel = computed(qtbot, make_panel(model), n=300, method="pca")
    i = isolated_point(panel.layout())
    qtbot.mouseMove(panel.view.viewport(), widget_pos(panel, i))
    qtbot.waitUntil(panel.view.hover.isVisible, timeout=5000)
    assert panel.view.hover.toolTip() == f"seed {i}"


def test_folder_map_for_an_autoencoder(qtbot, make_panel, tiny_model_factory, tmp_path):
    model = tiny_model_factory("ae")
    folder = tmp_path / "faces"
    folder.mkdir()
    for j, face in enumerate(model.sample(24, seed=0)):
        Image.fromarray(face).save(folder / f"f{j:02d}.png")
    panel = computed(qtbot, make_panel(model), source=str(folder), method="pca")
    assert panel.layout().shape == (24, 2)
    assert panel.source.labels[0].endswith("f00.png")


def test_export_png(qtbot, make_panel, tiny_model_factory, tmp_path):
    panel = computed(qtbot, make_panel(tiny_model_factory("dcgan")), n=300, method="pca")
    path = panel.export_png(tmp_path / "map.png")
    with Image.open(path) as im:
        assert im.width == panel.view.width()
    task = panel.export_face_map(tmp_path / "faces.png")
    qtbot.waitUntil(lambda: not task.is_running(), timeout=20000)
    assert (tmp_path / "faces.png").exists()


def drawn_colour(panel: LatentMapPanel, i: int) -> np.ndarray:
    """RGB of the screen pixel at the centre of point ``i``'s dot."""
    from waifu_studio.ui.images import qimage_to_array

    image = qimage_to_array(panel.view.viewport().grab().toImage())
    pos = widget_pos(panel, i)
    return image[pos.y(), pos.x()].astype(int)


def test_dots_are_drawn_in_their_cluster_colours(qtbot, make_panel, tiny_model_factory, monkeypatch):
    from PySide6.QtGui import QColor

    from waifu_studio.ui.widgets import map_view
    from waifu_studio.ui.widgets.latent_map_parts import CLUSTER_COLOURS

    # 300 points are few enough to be drawn as faces once the view settles: keep them dots here.
    monkeypatch.setattr(map_view, "THUMB_MAX_VISIBLE", 0)
    panel = computed(qtbot, make_panel(tiny_model_factory("vae")), n=300, method="pca")
    points = [isolated_point(panel.layout())]
    default_colour = drawn_colour(panel, points[0])
    with qtbot.waitSignal(panel.colours_ready, timeout=30000):
        panel.colour_box.setCurrentIndex(1)
    labels = panel.colour_values()
    # An isolated dot of each of two different clusters shows its cluster's colour on screen.
    others = np.flatnonzero(labels != labels[points[0]])
    points.append(int(others[isolated_point(panel.layout()[others])]))
    for i in points:
        expected = QColor(CLUSTER_COLOURS[labels[i] % len(CLUSTER_COLOURS)])
        assert np.abs(drawn_colour(panel, i) - [expected.red(), expected.green(), expected.blue()]).max() <= 10
    with qtbot.waitSignal(panel.colours_ready, timeout=30000):
        panel.colour_box.setCurrentIndex(0)
    np.testing.assert_array_equal(drawn_colour(panel, points[0]), default_colour)


def test_tsne_map_keeps_similar_points_together(qtbot, make_panel, tiny_model_factory):
    from waifu_studio.core.explore.projection import pca_2d
    from waifu_studio.core.explore.projection.neighbours import knn_preservation, trustworthiness

    model = tiny_model_factory("vae")
    panel = computed(qtbot, make_panel(model), timeout=120000, n=600, method="tsne")
    features = panel.source.features
    # A point's nearest dots on the map are mostly its nearest latents, far more than on the PCA map.
    pca = pca_2d(features)
    assert knn_preservation(features, panel.layout(), k=10) > 3 * knn_preservation(features, pca, k=10)
    assert trustworthiness(features, panel.layout(), k=10) > trustworthiness(features, pca, k=10) + 0.1
    # The map survives the round trip through the child process that computed it: clicking a dot
    # decodes that point's latent.
    i = isolated_point(panel.layout())
    with qtbot.waitSignal(panel.preview_rendered, timeout=10000):
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=widget_pos(panel, i))
    np.testing.assert_array_equal(panel.preview_face(), model.decode(panel.source.latents[i])[0])
