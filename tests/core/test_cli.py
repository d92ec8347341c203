"""The CLI contract, end to end on a tiny model: train, generate, morph, embed, eval, and errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from waifu_studio.cli import main

TINY = ["--resolution", "32", "--latent-dim", "16", "--width", "8", "--batch-size", "16", "--builtin-count", "64",
        "--log-every", "2", "--sample-every", "100", "--device", "cpu"]


def _pixels(path):
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


@pytest.fixture(scope="module")
def trained_ae(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ae"
    assert main(["train", "--model", "ae", "--data", "builtin", "--out", str(out), "--max-steps", "6", *TINY]) == 0
    return out


def test_train_writes_a_run_folder(trained_ae):
    for name in ("config.json", "metrics.jsonl", "checkpoint.safetensors", "train_state.pt"):
        assert (trained_ae / name).exists(), name
    rows = [json.loads(line) for line in (trained_ae / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert all(k in rows[0] for k in ("recon", "images_per_sec", "eta_s", "epoch"))


def test_resume_continues_from_the_last_step(trained_ae, capsys):
    assert main(["train", "--resume", str(trained_ae), "--max-steps", "10"]) == 0
    assert "at step 10" in capsys.readouterr().out
    steps = [json.loads(line)["step"] for line in (trained_ae / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 8, 10]


def test_generate_is_identical_for_the_same_arguments(trained_ae, tmp_path):
    ckpt = str(trained_ae / "checkpoint.safetensors")
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    assert main(["generate", "--checkpoint", ckpt, "--seed", "3", "--n", "4", "--out", str(a)]) == 0
    assert main(["generate", "--checkpoint", ckpt, "--seed", "3", "--n", "4", "--out", str(b)]) == 0
    assert main(["generate", "--checkpoint", ckpt, "--seed", "4", "--n", "4", "--out", str(c)]) == 0
    pa, pb, pc = (_pixels(p) for p in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(pa, pc)
    assert pa.shape == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2, 3)  # 2x2 grid, 2 px padding


def test_morph_png_and_gif(trained_ae, tmp_path):
    ckpt = str(trained_ae / "checkpoint.safetensors")
    face = tmp_path / "face.png"
    Image.fromarray(np.full((48, 48, 3), 200, np.uint8)).save(face)
    assert main(["morph", "--checkpoint", ckpt, "--from", "1", "--to", str(face), "--steps", "5",
                 "--out", str(tmp_path / "m.png")]) == 0
    with Image.open(tmp_path / "m.png") as strip:
        assert strip.size == (5 * 32 + 6 * 2, 32 + 2 * 2)
    assert main(["morph", "--checkpoint", ckpt, "--from", "1", "--to", "2", "--steps", "4", "--slerp",
                 "--out", str(tmp_path / "m.gif")]) == 0
    with Image.open(tmp_path / "m.gif") as gif:
        # Ping-pong: 2K-2 frames of 80 ms (PIL merges identical neighbours, keeping the total time).
        total = 0
        for i in range(gif.n_frames):
            gif.seek(i)
            total += gif.info["duration"]
    assert total == (2 * 4 - 2) * 80


def test_embed_and_eval(trained_ae, tmp_path, capsys):
    ckpt = str(trained_ae / "checkpoint.safetensors")
    folder = tmp_path / "faces"
    folder.mkdir()
    from waifu_studio.core.data import builtin_faces

    for i, img in enumerate(builtin_faces(count=12, resolution=32).images):
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    assert main(["embed", "--checkpoint", ckpt, "--data", str(folder), "--method", "pca", "--out",
                 str(tmp_path / "map.npz"), "--png", str(tmp_path / "map.png")]) == 0
    data = np.load(tmp_path / "map.npz")
    assert data["xy"].shape == (12, 2) and data["latents"].shape == (12, 16)
    assert (tmp_path / "map.png").exists()
    capsys.readouterr()
    assert main(["eval", "--checkpoint", ckpt, "--data", str(folder), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["count"] == 12 and result["psnr"] > 0 and 0 < result["recon_mse"] < 1


@pytest.mark.parametrize("argv, message", [
    (["generate", "--checkpoint", "missing.safetensors", "--seed", "1", "--out", "x.png"], "not found"),
    (["generate", "--checkpoint", "x", "--seed", "abc", "--out", "x.png"], "whole number"),
    (["generate", "--checkpoint", "x", "--seed", "1", "--out", "/no/such/folder/x.png"], "does not exist"),
    (["train", "--model", "ae", "--data", "/no/such/folder", "--out", "r"], "not found"),
    (["train", "--model", "gan"], "invalid choice"),
    (["train", "--model", "ae"], "needs --data"),
])
def test_bad_arguments_give_one_line_and_status_2(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = subprocess.run([sys.executable, "-m", "waifu_studio", *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_corrupt_checkpoint_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 100)
    result = subprocess.run([sys.executable, "-m", "waifu_studio", "generate", "--checkpoint", str(bad), "--seed", "1",
                             "--out", str(tmp_path / "x.png")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
