"""Grids, morph strips and GIFs: exact sizes, tile placement, labels, atomic files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageSequence

from waifu_studio.core.errors import WaifuError
from waifu_studio.core.io import export


def _faces(n: int, h: int = 16, w: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def _smooth_frames(k: int, size: int = 24) -> np.ndarray:
    """Frames whose colour drifts smoothly, like a morph between two faces."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    frames = []
    for i in range(k):
        t = i / max(k - 1, 1)
        red = 255 * (1 - t) * xx
        green = 255 * yy
        blue = 255 * t * (1 - xx)
        frames.append(np.stack([red, green, blue], axis=-1).astype(np.uint8))
    return np.stack(frames)


@pytest.mark.parametrize(("n", "ncols", "expected"), [(1, None, (1, 1)), (5, None, (2, 3)), (9, None, (3, 3)),
                                                       (10, 4, (3, 4)), (3, 8, (1, 3))])
def test_grid_shape(n, ncols, expected):
    assert export.grid_shape(n, ncols) == expected


@pytest.mark.parametrize(("n", "ncols", "padding", "scale", "labels"), [
    (7, None, 2, 1, False), (7, 3, 0, 1, False), (6, 4, 3, 2, False), (5, None, 2, 1, True), (8, 3, 1, 4, True)])
def test_grid_size_formula(n, ncols, padding, scale, labels):
    h, w = 16, 12
    names = [f"seed {i}" for i in range(n)] if labels else None
    grid = export.make_grid(_faces(n, h, w), ncols, padding=padding, labels=names, scale=scale)
    nrows, cols = export.grid_shape(n, ncols)
    label_h = export.default_label_height(h, scale) if labels else 0
    assert grid.dtype == np.uint8
    assert grid.shape == (nrows * (h * scale + label_h) + (nrows + 1) * padding,
                          cols * w * scale + (cols + 1) * padding, 3)


def test_explicit_label_height_is_used():
    grid = export.make_grid(_faces(4), 2, padding=1, labels=list("abcd"), label_height=7)
    assert grid.shape[0] == 2 * (16 + 7) + 3 * 1


def test_tiles_hold_each_image_exactly():
    faces = _faces(7)
    padding, h, w, ncols = 3, 16, 12, 3
    grid = export.make_grid(faces, ncols, padding=padding, pad_value=17)
    for i, face in enumerate(faces):
        row, col = i // ncols, i % ncols
        y, x = padding + row * (h + padding), padding + col * (w + padding)
        np.testing.assert_array_equal(grid[y:y + h, x:x + w], face)
    # Padding left of the first tile and the empty cells of the last row keep the pad value.
    assert (grid[:, :padding] == 17).all()
    last_row_y = padding + 2 * (h + padding)
    assert (grid[last_row_y:last_row_y + h, padding + w + padding:-padding] == 17).all()


def test_scale_makes_nearest_neighbour_blocks():
    faces = _faces(2, 4, 4)
    grid = export.make_grid(faces, 2, padding=0, scale=3)
    np.testing.assert_array_equal(grid[::3, :12:3], faces[0])
    np.testing.assert_array_equal(grid[2::3, 12 + 2::3], faces[1])


def test_labels_draw_text_in_the_strip_only():
    faces = _faces(4, 32, 32)
    plain = export.make_grid(faces, 2, padding=2)
    labelled = export.make_grid(faces, 2, padding=2, labels=["seed 1", "seed 2", "seed 3", "A"])
    label_h = export.default_label_height(32)
    strip = labelled[2 + 32:2 + 32 + label_h, 2:2 + 32]
    assert (strip != 255).any(), "label text should darken pixels in the strip"
    # The tiles themselves are untouched by the labels.
    np.testing.assert_array_equal(labelled[2:34, 2:34], plain[2:34, 2:34])
    other = export.make_grid(faces, 2, padding=2, labels=["other", "seed 2", "seed 3", "A"])
    assert not np.array_equal(other[34:34 + label_h, 2:34], strip)


def test_long_label_is_shortened_to_fit():
    grid = export.make_grid(_faces(2, 16, 16), 2, padding=2,
                            labels=["a very long label that cannot fit", "b"])
    strip = grid[18:18 + export.default_label_height(16)]
    # Text stays inside its own tile column: the padding column between tiles stays clean.
    assert (strip[:, 18:20] == 255).all()


def test_morph_strip_is_one_row():
    frames = _faces(6, 8, 8)
    strip = export.morph_strip(frames, padding=1, scale=2)
    assert strip.shape == (8 * 2 + 2, 6 * 16 + 7, 3)
    np.testing.assert_array_equal(strip[1:17:2, 1:17:2], frames[0])


def test_bad_input_is_a_clear_error():
    with pytest.raises(WaifuError, match="uint8"):
        export.make_grid(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(WaifuError, match="labels"):
        export.make_grid(_faces(3), labels=["a"])
    with pytest.raises(WaifuError, match="scale"):
        export.make_grid(_faces(3), scale=0)
    with pytest.raises(WaifuError):
        export.make_grid(np.zeros((0, 8, 8, 3), np.uint8))


def test_png_round_trips_exactly(tmp_path):
    face = _faces(1, 20, 30)[0]
    path = export.save_png(face, tmp_path / "face.png")
    assert path == tmp_path / "face.png"
    np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), face)


def test_save_grid_writes_the_grid(tmp_path):
    faces = _faces(5)
    path = export.save_grid(faces, tmp_path / "grid.png", ncols=2, labels=[str(i) for i in range(5)], scale=2)
    expected = export.make_grid(faces, 2, labels=[str(i) for i in range(5)], scale=2)
    np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), expected)


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_save_image_other_formats(tmp_path, suffix):
    image = _smooth_frames(1, 32)[0]
    path = export.save_image(image, tmp_path / f"face{suffix}")
    back = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert back.shape == image.shape
    assert np.abs(back - image).mean() < 3


def test_unknown_extension_is_refused(tmp_path):
    with pytest.raises(WaifuError, match="unknown image type"):
        export.save_image(_faces(1)[0], tmp_path / "face.tiff")


def test_missing_folder_is_a_clear_error(tmp_path):
    target = tmp_path / "nope" / "face.png"
    with pytest.raises(WaifuError, match="folder does not exist"):
        export.save_png(_faces(1)[0], target)
    with pytest.raises(WaifuError, match="folder does not exist"):
        export.save_gif(_faces(3), tmp_path / "nope" / "morph.gif")


def test_atomic_write_leaves_no_temp_files(tmp_path):
    export.save_png(_faces(1)[0], tmp_path / "a.png")
    export.save_gif(_faces(3), tmp_path / "b.gif")
    export.save_image(_faces(1)[0], tmp_path / "c.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.gif", "c.jpg"]


def test_failed_write_keeps_old_file_and_no_temp(tmp_path):
    target = tmp_path / "face.png"
    export.save_png(_faces(1, seed=1)[0], target)
    before = target.read_bytes()

    def explode(_file):
        raise OSError(28, "No space left on device")

    with pytest.raises(WaifuError, match="No space left"):
        export.atomic_write(target, explode)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["face.png"]


@pytest.mark.parametrize(("k", "pingpong", "expected"), [(5, True, 8), (5, False, 5), (2, True, 2)])
def test_gif_frame_count_and_loop(tmp_path, k, pingpong, expected):
    frames = _smooth_frames(k)
    path = export.save_gif(frames, tmp_path / "morph.gif", duration_ms=50, pingpong=pingpong)
    with Image.open(path) as gif:
        assert gif.n_frames == expected
        assert gif.info["loop"] == 0
        assert gif.info["duration"] == 50


def test_gif_plays_there_and_back_with_faithful_colours(tmp_path):
    frames = _smooth_frames(6)
    path = export.save_gif(frames, tmp_path / "morph.gif", scale=2)
    order = export.gif_frame_order(6)
    assert order == [0, 1, 2, 3, 4, 5, 4, 3, 2, 1]
    with Image.open(path) as gif:
        shown = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]
    assert shown[0].shape == (48, 48, 3)
    for picture, index in zip(shown, order, strict=True):
        # A 2-D gradient of 576 colours squeezed into 256 is the hard case: still only a couple of
        # levels of error on average, and no pixel jumps by a visible band.
        error = np.abs(picture[::2, ::2].astype(int) - frames[index])
        assert error.mean() < 3
        assert error.max() < 40


def test_gif_loop_none_plays_once(tmp_path):
    path = export.save_gif(_smooth_frames(3), tmp_path / "once.gif", loop=None)
    with Image.open(path) as gif:
        assert "loop" not in gif.info


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saved_file_gets_normal_permissions(tmp_path):
    old_umask = os.umask(0o022)
    try:
        path = export.save_png(_faces(1)[0], tmp_path / "face.png")
    finally:
        os.umask(old_umask)
    assert path.stat().st_mode & 0o777 == 0o644
