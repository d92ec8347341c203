"""Checkpoints: round trip, atomic writes, and refusal of everything a stranger might send."""

from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from waifu_studio.core.errors import CheckpointError
from waifu_studio.core.io.checkpoint import load_checkpoint, read_info, save_checkpoint


def test_round_trip_gives_identical_faces(tiny_checkpoint, tiny_model_factory):
    path = tiny_checkpoint("ae")
    model = load_checkpoint(path)
    info = read_info(path)
    assert info.family == "ae" and info.config.latent_dim == 16
    again = load_checkpoint(path)
    np.testing.assert_array_equal(model.sample(4, seed=3), again.sample(4, seed=3))
    # The fitted prior travels with the checkpoint.
    assert not np.allclose(model.latent_mean, 0.0)


def test_fp16_checkpoint_loads_and_is_half_the_size(tmp_path, tiny_model_factory):
    model = tiny_model_factory("dcgan", width=16)
    full = save_checkpoint(model, tmp_path / "full.safetensors")
    half = save_checkpoint(model, tmp_path / "half.safetensors", dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    a, b = load_checkpoint(full).sample(2, 0).astype(int), load_checkpoint(half).sample(2, 0).astype(int)
    assert np.abs(a - b).mean() < 2.0  # fp16 rounding moves pixels by at most a little


def _malicious_pickle(tmp_path, marker):
    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return pickle.dumps({"state": Boom()})


def test_a_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    for name, payload in [("evil.safetensors", _malicious_pickle(tmp_path, marker)),
                          ("evil.pt", _malicious_pickle(tmp_path, marker))]:
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(CheckpointError, match="pickle"):
            load_checkpoint(path)
    # A real torch.save zip archive renamed .safetensors too.
    zipped = tmp_path / "zipped.safetensors"
    torch.save({"x": torch.zeros(2)}, zipped)
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(zipped)
    assert not marker.exists()


@pytest.mark.parametrize("case", ["empty", "huge_header", "not_json", "truncated", "foreign", "newer",
                                  "unknown_family", "wrong_shapes", "nan", "folder", "missing"])
def test_bad_checkpoints_are_refused_with_a_message(tmp_path, tiny_checkpoint, case):
    good = tiny_checkpoint("dcgan")
    raw = good.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    path = tmp_path / f"{case}.safetensors"

    def with_header(new_header):
        body = json.dumps(new_header).encode()
        return struct.pack("<Q", len(body)) + body + raw[8 + header_len:]

    if case == "empty":
        path.write_bytes(b"")
        expected = "empty or truncated"
    elif case == "huge_header":
        path.write_bytes(struct.pack("<Q", 2**60) + b"{}")
        expected = "header length"
    elif case == "not_json":
        path.write_bytes(struct.pack("<Q", 4) + b"\xff\xfe\x00\x01" + b"0" * 10)
        expected = "not JSON"
    elif case == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
        expected = "truncated"
    elif case == "foreign":
        from safetensors.torch import save_file

        save_file({"w": torch.zeros(3)}, str(path))
        expected = "not a Waifu Studio checkpoint"
    elif case == "newer":
        header["__metadata__"]["format_version"] = "99"
        path.write_bytes(with_header(header))
        expected = "newer"
    elif case == "unknown_family":
        header["__metadata__"]["family"] = "diffusion"
        path.write_bytes(with_header(header))
        expected = "unknown model family"
    elif case == "wrong_shapes":
        cfg = json.loads(header["__metadata__"]["model_config"])
        cfg["latent_dim"] = 24
        header["__metadata__"]["model_config"] = json.dumps(cfg)
        path.write_bytes(with_header(header))
        expected = "does not match its stated config"
    elif case == "nan":
        from waifu_studio.core.io.checkpoint import load_checkpoint as load

        model = load(good)
        with torch.no_grad():
            next(model.parameters()).fill_(float("nan"))
        save_checkpoint(model, path)
        expected = "NaN"
    elif case == "folder":
        path.mkdir()
        expected = "folder"
    else:
        expected = "not found"
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(path)


def test_atomic_write_keeps_the_old_file_when_the_folder_is_read_only(tmp_path, tiny_model_factory):
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions")
    folder = tmp_path / "ro"
    folder.mkdir()
    model = tiny_model_factory("dcgan")
    path = save_checkpoint(model, folder / "m.safetensors")
    before = path.read_bytes()
    folder.chmod(0o500)
    try:
        with pytest.raises(CheckpointError, match="cannot write"):
            save_checkpoint(model, path)
    finally:
        folder.chmod(0o700)
    assert path.read_bytes() == before


def test_failed_write_leaves_previous_file_intact(tmp_path, tiny_model_factory, monkeypatch):
    model = tiny_model_factory("dcgan")
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(CheckpointError, match="No space left"):
        save_checkpoint(model, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left behind
