"""Maps while encoding runs: partial point sets, the code cache and its invalidation, cancel."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from waifu_studio.core.explore import map_stream
from waifu_studio.core.explore.map_stream import build_map_source, stream_map_source
from waifu_studio.core.explore.maps import MapCancelled


@pytest.fixture
def face_folder(tmp_path, faces32):
    folder = tmp_path / "faces"
    folder.mkdir()
    for i, face in enumerate(faces32[:200]):
        Image.fromarray(face).save(folder / f"f{i:03d}.png")
    return folder


def count_encodes(model, monkeypatch) -> list[int]:
    calls: list[int] = []
    real = model.encode

    def encode(images, *args, **kwargs):
        calls.append(len(images))
        return real(images, *args, **kwargs)

    monkeypatch.setattr(model, "encode", encode)
    return calls


def test_points_appear_batch_by_batch_then_all(tiny_model_factory, face_folder, monkeypatch):
    monkeypatch.setattr(map_stream, "REFRESH_S", 0.0)  # a layout with every batch, so each is checked
    model = tiny_model_factory("ae")
    steps = list(stream_map_source(model, face_folder))
    partial = [s for s in steps if s.stage == "encoding"]
    assert partial, "no partial map before the end"
    assert partial[0].done == map_stream.FIRST_BATCH and partial[0].total == 200
    assert [s.done for s in partial] == sorted(s.done for s in partial)
    for step in partial:
        assert len(step.source.latents) == step.done and step.layout.shape == (step.done, 2)
        assert "/ 200 faces" in step.text()
    final = steps[-1]
    assert final.stage == "done" and len(final.source.latents) == 200
    # The partial codes are the final codes of the same faces.
    np.testing.assert_array_equal(partial[0].source.latents, final.source.latents[:partial[0].done])
    assert final.source.labels[0] == "f000.png" and final.source.root == str(face_folder)


def test_a_folder_is_encoded_once_per_model(tiny_model_factory, tiny_checkpoint, face_folder, monkeypatch):
    from waifu_studio.core.io.checkpoint import load_checkpoint

    path = tiny_checkpoint("ae")
    model = load_checkpoint(path)
    calls = count_encodes(model, monkeypatch)
    first = build_map_source(model, face_folder)
    assert sum(calls) >= 200
    calls.clear()
    again = list(stream_map_source(model, face_folder))
    assert calls == [] and len(again) == 1 and again[0].from_cache  # one step, nothing encoded
    np.testing.assert_array_equal(again[0].source.latents, first.latents)

    # Reopened from disk (a new model object, the same file): still cached.
    reopened = load_checkpoint(path)
    calls = count_encodes(reopened, monkeypatch)
    build_map_source(reopened, face_folder)
    assert calls == []

    # A changed folder is encoded again...
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(face_folder / "new.png")
    build_map_source(reopened, face_folder)
    assert sum(calls) >= 201
    # ...and so is the folder under a changed checkpoint.
    other = tiny_model_factory("ae", width=8)
    with __import__("torch").no_grad():
        next(other.parameters()).add_(1.0)
    calls = count_encodes(other, monkeypatch)
    build_map_source(other, face_folder)
    assert sum(calls) >= 201


def test_cancel_stops_encoding(tiny_model_factory, face_folder):
    model = tiny_model_factory("ae")
    cancel = threading.Event()
    stream = stream_map_source(model, face_folder, cancel=cancel)
    next(s for s in stream if s.stage == "encoding")
    cancel.set()
    with pytest.raises(MapCancelled):
        list(stream)


def test_prior_points_stream_for_a_gan(tiny_model_factory, monkeypatch):
    monkeypatch.setattr(map_stream, "REFRESH_S", 0.0)
    model = tiny_model_factory("dcgan")
    steps = list(stream_map_source(model, "prior", n=300))
    shown = [s for s in steps if s.stage == "sampling" and s.layout is not None]
    assert shown and shown[0].done == map_stream.FIRST_BATCH
    final = steps[-1].source
    assert final.labels[7] == "seed 7" and final.features.shape[0] == 300
    np.testing.assert_array_equal(final.faces[:5], model.decode(final.latents[:5]))


def test_cli_embed_reuses_the_code_cache_and_writes_a_csv(tiny_checkpoint, face_folder, tmp_path, monkeypatch):
    import csv

    from waifu_studio.cli import main
    from waifu_studio.core.models import FaceModel

    calls: list[int] = []
    real = FaceModel.encode
    monkeypatch.setattr(FaceModel, "encode", lambda self, images, *a, **k: calls.append(len(images)) or
                        real(self, images, *a, **k))
    ckpt = str(tiny_checkpoint("ae"))
    args = ["embed", "--checkpoint", ckpt, "--data", str(face_folder), "--out", str(tmp_path / "m.npz")]
    assert main([*args, "--method", "pca"]) == 0
    assert sum(calls) >= 200
    calls.clear()
    assert main([*args, "--method", "tsne", "--csv", str(tmp_path / "points.csv")]) == 0
    assert calls == []  # another method: the codes come from the cache
    with open(tmp_path / "points.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    data = np.load(tmp_path / "m.npz")
    assert len(rows) == 200 and rows[3]["file"] == str(face_folder / "f003.png") and rows[3]["seed"] == ""
    np.testing.assert_allclose([float(rows[3]["x"]), float(rows[3]["y"])], data["xy"][3], atol=1e-5)
    np.testing.assert_allclose([float(rows[3][f"z{d}"]) for d in range(16)], data["latents"][3], rtol=1e-5, atol=1e-6)
