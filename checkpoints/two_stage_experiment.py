"""Experiment (not shipped): a two-stage VAE prior for the bundled AE (Dai and Wipf 2019).

A small second VAE is trained on the standardised codes of the AE's training faces; sampling
draws its latent from N(0, I), decodes a code with it, and decodes that code with the AE. The
script prints FID-5k against all faces of the folder, measured as the model card measures it
(reference statistics are cached, so run it after one `waifu-studio eval --fid`).

    python checkpoints/two_stage_experiment.py checkpoints/ae.safetensors ../shared/data/anime-faces-64 [GRID.png]
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from torch import nn

from waifu_studio.core.data import load_folder
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.models.prior_fit import encode_faces
from waifu_studio.core.quality.metrics import fid_kid, reference_stats

INNER = 64  # the second stage's latent size
HIDDEN = 1024
EPOCHS = 150
BATCH = 256


class SecondStage(nn.Module):
    """An MLP VAE on codes with a learned output scale (gamma), as in the two-stage VAE paper."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(dim, HIDDEN), nn.GELU(), nn.Linear(HIDDEN, HIDDEN), nn.GELU(),
                                 nn.Linear(HIDDEN, 2 * INNER))
        self.dec = nn.Sequential(nn.Linear(INNER, HIDDEN), nn.GELU(), nn.Linear(HIDDEN, HIDDEN), nn.GELU(),
                                 nn.Linear(HIDDEN, dim))
        self.log_gamma = nn.Parameter(torch.zeros(()))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.enc(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = self.dec(z)
        dim = x.shape[1]
        nll = ((x - recon) ** 2).sum(1) / (2 * self.log_gamma.exp() ** 2) + dim * self.log_gamma
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)
        return (nll + kl).mean()


def main(checkpoint: str, folder: str, grid_png: str | None = None, n: int = 5000) -> dict:
    torch.manual_seed(0)
    model = load_checkpoint(checkpoint)
    t = time.perf_counter()
    faces = load_folder(folder, model.resolution, split="train").images
    codes = encode_faces(model, faces)
    mean, std = codes.mean(0), codes.std(0) + 1e-6
    x = torch.from_numpy((codes - mean) / std)
    stage = SecondStage(x.shape[1])
    opt = torch.optim.Adam(stage.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    for epoch in range(EPOCHS):
        order = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), BATCH):
            loss = stage.loss(x[order[i:i + BATCH]])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * min(BATCH, len(x) - i)
        sched.step()
        if epoch % 25 == 0 or epoch == EPOCHS - 1:
            print(f"epoch {epoch}: loss {total / len(x):.1f}, gamma {stage.log_gamma.exp().item():.3f}", flush=True)
    train_s = time.perf_counter() - t
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        z = torch.randn(n, INNER, generator=g)
        sampled = stage.dec(z).numpy() * std + mean
    generated = np.concatenate([model.decode_exact(sampled[i:i + 250].astype(np.float32))
                                for i in range(0, n, 250)])
    if grid_png:  # the first 64 samples, 8x8, to look at
        from PIL import Image

        tiles = generated[:64].reshape(8, 8, *generated.shape[1:]).transpose(0, 2, 1, 3, 4)
        Image.fromarray(tiles.reshape(8 * generated.shape[1], 8 * generated.shape[2], 3)).save(grid_png)
    ref = reference_stats(folder, key=None)
    result = {"checkpoint": checkpoint, "prior": "two-stage VAE (MLP 1024x2, inner 64, learned gamma)",
              "codes": len(codes), "epochs": EPOCHS, "train_s": round(train_s, 1), "fid_n": n,
              **fid_kid(generated, ref)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
