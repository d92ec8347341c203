"""CPU checks of an AE/VAE sampling prior, without Inception: python prior_check.py CKPT FACES [N].

Prints one JSON object: ``val_loglik``, the mean log-likelihood (nats per code) of the validation
split's codes under the checkpoint's prior (higher: the prior covers where real codes are), and
``fd16``, the Fréchet distance between 16x16 thumbnails (768 numbers per face) of N sampled faces
(seeds 0..N-1, default 5000, decoded in fp32 as the CLI does) and of every face in FACES. FD-16px
sees colour and layout, not detail: a cheap stand-in for FID on 2 CPU cores, not a substitute.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from waifu_studio.core.data import load_folder
from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.models.prior_fit import encode_faces
from waifu_studio.core.quality.metrics import feature_stats, frechet_distance

SIDE = 16


def thumbnails(faces: np.ndarray) -> np.ndarray:
    n, res = len(faces), faces.shape[1]
    return faces.reshape(n, SIDE, res // SIDE, SIDE, res // SIDE, 3).mean(axis=(2, 4)).reshape(n, -1) / 255.0


checkpoint, folder = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
model = load_checkpoint(checkpoint)
model.decode_precision = "fp32"
val = load_folder(folder, model.resolution, split="val").images
real = load_folder(folder, model.resolution).images
fake = np.concatenate([model.sample(min(500, n - s), seed=s) for s in range(0, n, 500)])
print(json.dumps({
    "checkpoint": checkpoint, "prior": model.prior.describe() if model.prior is not None else "own",
    "val_loglik": float(model.prior.log_likelihood(encode_faces(model, val)).mean()),
    "fd16": frechet_distance(*feature_stats(thumbnails(fake)), *feature_stats(thumbnails(real))), "n": n,
}))
