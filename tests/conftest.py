"""Shared test setup: offscreen Qt before any Qt import, tiny models, an isolated cache."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before PySide6 is imported anywhere

import numpy as np
import pytest
import torch

torch.set_num_threads(2)


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
