"""The CLI commands for what the app's Directions, Reconstructions and Train tabs show."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from waifu_studio.cli import main
from waifu_studio.core.explore.directions import compute_axes, sweep_latents
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.io.export import save_grid
from waifu_studio.core.quality.metrics import psnr
from waifu_studio.core.quality.reconstructions import reconstruct_faces
from waifu_studio.core.training import SAMPLES_DIR


def pixels(path) -> np.ndarray:  # noqa: ANN001
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_directions_sweep_one_face_along_each_direction(tmp_path, tiny_checkpoint, capsys):
    path = tiny_checkpoint("dcgan")
    out = tmp_path / "dirs.png"
    assert main(["directions", "--checkpoint", str(path), "--seed", "4", "--count", "3", "--out", str(out)]) == 0
    assert "3 directions x 7 faces" in capsys.readouterr().out
    grid = pixels(out)
    model = load_checkpoint(path)
    model.decode_precision = "fp32"
    axes = compute_axes(model, k=3)
    row = model.decode(sweep_latents(model.seeds_to_latents([4])[0], axes, 0))
    assert grid.shape[1] > 7 * 32 and grid.shape[0] > 3 * 32
    np.testing.assert_array_equal(grid[2:34, 2:34], row[0])  # save_grid pads by 2 px: first face of row 1
    assert not np.array_equal(row[0], row[-1])  # the sweep changes the face


def test_reconstruct_prints_the_psnr_of_the_faces_it_draws(tmp_path, tiny_checkpoint, capsys):
    path = tiny_checkpoint("ae")
    out = tmp_path / "recon.png"
    assert main(["reconstruct", "--checkpoint", str(path), "--count", "8", "--out", str(out)]) == 0
    printed = float(re.search(r"PSNR ([\d.]+) dB", capsys.readouterr().out).group(1))
    model = load_checkpoint(path)
    model.decode_precision = model.encode_precision = "fp32"  # as the CLI sets them
    result = reconstruct_faces(model, None, 8)
    assert printed == round(result.metrics["psnr"], 2)
    assert result.psnrs[3] == psnr(result.faces[3], result.recons[3])
    np.testing.assert_array_equal(pixels(out), result.grid)


def test_reconstruct_refuses_a_gan_in_one_line(tmp_path, tiny_checkpoint, capsys):
    assert main(["reconstruct", "--checkpoint", str(tiny_checkpoint("dcgan")), "--out", str(tmp_path / "r.png")]) == 2
    err = capsys.readouterr().err
    assert "no encoder" in err and len(err.strip().splitlines()) == 1


def test_timelapse_writes_one_frame_per_sample_grid(tmp_path, capsys):
    run = tmp_path / "run"
    rng = np.random.default_rng(0)
    (run / SAMPLES_DIR).mkdir(parents=True)
    for step in (0, 10, 20):
        save_grid(rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8), run / SAMPLES_DIR / f"step_{step:08d}.png")
    out = tmp_path / "t.gif"
    assert main(["timelapse", str(run), "--out", str(out)]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 3
    assert main(["timelapse", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "no sample grids" in capsys.readouterr().err
