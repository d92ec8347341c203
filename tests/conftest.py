"""Shared test setup: offscreen Qt before any Qt import, tiny models, an isolated cache."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before PySide6 is imported anywhere

# One intra-op thread, here and in every program a test starts. The models are tiny; with two
# threads every op ends at an OpenMP barrier, and on a loaded machine the descheduled thread
# makes each op wait a scheduler slice (the AE training test: 292 s with 2 threads, 13 s with 1,
# at load 15 on 2 cores). Tests of the thread handling set their own counts.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from waifu_studio.core import devices  # noqa: E402

torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption("--cpu-bf16", choices=devices.BF16_SETTINGS, default=None,
                     help=f"set ${devices.BF16_ENV} for the whole run, this process and the programs it starts: "
                          "auto (bf16 where the CPU has it natively), 1 (bf16 on any CPU) or 0 (fp32)")


def pytest_configure(config):
    value = config.getoption("--cpu-bf16")
    if value is not None:  # before anything reads it (devices reads it once, at first use)
        os.environ[devices.BF16_ENV] = value


def pytest_report_header(config):
    return f"waifu-studio CPU: {devices.describe_cpu()}"


@pytest.fixture
def force_cpu_bf16(monkeypatch):
    """``force_cpu_bf16(True)`` (or False): the rest of the test runs the program's bf16 (or fp32) CPU branch."""

    def force(on: bool) -> None:
        monkeypatch.setenv(devices.BF16_ENV, "1" if on else "0")
        devices.bf16_setting.cache_clear()

    yield force
    devices.bf16_setting.cache_clear()  # monkeypatch restores the variable next; it is read again at first use


@pytest.fixture(params=[False, True], ids=["fp32-cpu", "bf16-cpu"])
def cpu_bf16(request, force_cpu_bf16) -> bool:
    """Runs a test twice: with the CPU branch forced to fp32, then to bf16 (whatever this CPU has)."""
    force_cpu_bf16(request.param)
    return request.param


@pytest.fixture
def torch_threads():
    """``torch_threads(n)``: torch uses ``n`` intra-op threads for the rest of the test (the suite runs on one)."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache and user-data folders; nothing touches ~/.cache or ~/.local."""
    monkeypatch.setenv("WAIFU_STUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("WAIFU_STUDIO_DATA", str(tmp_path_factory.mktemp("user-data")))


@pytest.fixture
def tiny_model_factory():
    """Build a small, freshly initialised model of any family (32 px, narrow) on the CPU."""
    from waifu_studio.core.config import ModelConfig
    from waifu_studio.core.models import build_model

    def make(family: str = "dcgan", latent_dim: int = 16, width: int = 8, resolution: int = 32):
        torch.manual_seed(0)
        return build_model(ModelConfig(family=family, resolution=resolution, latent_dim=latent_dim, width=width)).eval()

    return make


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_model_factory):
    """Write a tiny checkpoint of ``family`` and return its path."""
    from waifu_studio.core.io.checkpoint import save_checkpoint

    def make(family: str = "dcgan", name: str | None = None, **kwargs):
        model = tiny_model_factory(family, **kwargs)
        if family == "ae":  # a fitted prior, as a trained AE has
            codes = np.random.default_rng(0).normal(size=(64, model.latent_dim)).astype(np.float32)
            model.prior.fit_gaussian(codes)
        return save_checkpoint(model, tmp_path / (name or f"{family}.safetensors"))

    return make


@pytest.fixture
def faces_folder(tmp_path):
    """40 built-in faces as 32 px PNG files: 36 in the training split, 4 in the validation split."""
    from PIL import Image

    from waifu_studio.core.data import builtin_faces

    folder = tmp_path / "faces"
    folder.mkdir()
    for i, img in enumerate(builtin_faces(count=40, resolution=32).images):
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    return folder
