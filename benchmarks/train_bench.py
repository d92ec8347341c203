"""Row 1: training throughput, the project's Trainer path against a DCGAN-tutorial-style loop.

Both sides train the same architecture with the same objective (the project's, so the math is
identical) from the same initial weights. What differs is what the project claims buys speed:

* project:   the whole set as one uint8 tensor in memory, bf16 autocast, channels_last;
* reference: a torch DataLoader over the JPEG files (2 workers, like the tutorial) that decodes
  each image with PIL every epoch and applies Resize/CenterCrop/ToTensor/Normalize written by
  hand (torchvision is not installable here), fp32, NCHW, no autocast.

The breakdown toggles one ingredient at a time on the project path (dcgan).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from waifu_studio.core.config import ModelConfig, RunConfig, TrainConfig
from waifu_studio.core.data import load_folder
from waifu_studio.core.training import Trainer

from .common import FAMILIES, Context, Row, median, now, yes_no

BATCH = 128
RES = 64
TARGETS = {"dcgan": 4.0, "ae": 2.0, "vae": 2.0, "wgan-gp": 2.0}


# ------------------------------------------------------------------ reference data path
class FaceFiles(torch.utils.data.Dataset):
    """ImageFolder-like: one PIL decode and hand-written torchvision transforms per item."""

    def __init__(self, folder: Path, size: int = RES) -> None:
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(self.paths[i]) as im:
            im = im.convert("RGB")
        # transforms.Resize(size): shorter side to `size`, bilinear with antialias.
        w, h = im.size
        if (w, h) != (self.size, self.size):
            scale = self.size / min(w, h)
            im = im.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))),
                           Image.Resampling.BILINEAR)
        # transforms.CenterCrop(size)
        w, h = im.size
        left, top = round((w - self.size) / 2), round((h - self.size) / 2)
        im = im.crop((left, top, left + self.size, top + self.size))
        # transforms.ToTensor(): HWC uint8 -> CHW float in [0, 1]
        x = torch.from_numpy(np.array(im, np.uint8)).permute(2, 0, 1).float().div(255.0)
        # transforms.Normalize((0.5,) * 3, (0.5,) * 3)
        return (x - 0.5) / 0.5


def file_batches(folder: Path, workers: int = 2, seed: int = 0) -> Iterator[torch.Tensor]:
    """Endless shuffled batches from the files (a new epoch re-decodes everything)."""
    loader = torch.utils.data.DataLoader(FaceFiles(folder), batch_size=BATCH, shuffle=True, num_workers=workers,
                                         generator=torch.Generator().manual_seed(seed))
    while True:
        yield from loader


# ------------------------------------------------------------------------ one configuration
def make_trainer(family: str, images: np.ndarray, run_dir: str, *, precision: str, channels_last: bool) -> Trainer:
    cfg = RunConfig(model=ModelConfig(family=family, resolution=RES, latent_dim=384 if family == "ae" else 128,
                                      width=64, extra_convs=1 if family in ("ae", "vae") else 0),
                    train=TrainConfig.for_family(family, batch_size=BATCH, precision=precision,
                                                 channels_last=channels_last, seed=0, max_steps=100_000,
                                                 device="cpu"))
    return Trainer(cfg, images, run_dir)  # seeds torch before building: every variant starts from the same weights


def step_fn(trainer: Trainer, data: str, folder: Path | None) -> Callable[[], dict[str, torch.Tensor]]:
    """One training step of ``trainer`` fed from memory (the Trainer's own path) or the files."""
    files = file_batches(folder) if data == "files" else None
    fp32 = trainer.precision == "fp32"

    def step() -> dict[str, torch.Tensor]:
        if files is None:
            x = trainer._batch()  # the Trainer's loop body: index uint8 tensor, scale, flip, layout
            autocast = trainer.autocast
        else:
            x = next(files)
            if trainer.config.train.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            autocast = contextlib.nullcontext if fp32 else trainer.autocast
        losses = trainer.objective.train_step(x, trainer.step, autocast)
        trainer.step += 1
        return {k: float(v) for k, v in losses.items()}

    return step


def compare(family: str, images: np.ndarray, folder: Path, configs: dict[str, dict], *, warmup: int,
            steps: int) -> dict[str, dict]:
    """Images/s of each configuration, stepping them in turn (one step each, round robin).

    The machine is shared and its load drifts by 2-5x within a minute; interleaving puts every
    configuration under the same load, so the ratios hold even when the absolute figures don't.
    """
    stepper, dirs = {}, []
    for name, kw in configs.items():
        dirs.append(tempfile.TemporaryDirectory())
        trainer = make_trainer(family, images, dirs[-1].name, precision=kw["precision"],
                               channels_last=kw["channels_last"])
        trainer.model.train()
        trainer.objective.train()
        stepper[name] = step_fn(trainer, kw["data"], folder)
    times: dict[str, list[float]] = {name: [] for name in configs}
    try:
        for i in range(warmup + steps):
            for name, step in stepper.items():
                t = now()
                step()
                if i >= warmup:
                    times[name].append(now() - t)
    finally:
        for d in dirs:
            d.cleanup()
    return {name: {"images_per_s": BATCH / median(ts), "median_step_s": median(ts), "step_s": ts, **configs[name]}
            for name, ts in times.items()}


PROJECT = {"precision": "bf16", "channels_last": True, "data": "memory"}
REFERENCE = {"precision": "fp32", "channels_last": False, "data": "files"}
TOGGLES = {
    "fp32 instead of bf16": {**PROJECT, "precision": "fp32"},
    "NCHW instead of channels_last": {**PROJECT, "channels_last": False},
    "file DataLoader instead of uint8 tensor": {**PROJECT, "data": "files"},
}


# ---------------------------------------------------------------------------- convergence
def convergence(family: str, images: np.ndarray, folder: Path, steps: int, out_dir: Path) -> dict:
    curves = {}
    for name, precision, cl, data in (("project", "bf16", True, "memory"), ("reference", "fp32", False, "files")):
        with tempfile.TemporaryDirectory() as run_dir:
            trainer = make_trainer(family, images, run_dir, precision=precision, channels_last=cl)
            trainer.model.train()
            trainer.objective.train()
            step = step_fn(trainer, data, folder)
            key = "recon" if family in ("ae", "vae") else "d_loss"
            curves[name] = [step()[key] for _ in range(steps)]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"convergence_{family}.json").write_text(json.dumps(curves))
    plot = draw_curves(curves, out_dir / f"convergence_{family}.png", f"{family}: loss per step (same init)")
    tail = max(1, steps // 10)
    return {"first": {k: v[0] for k, v in curves.items()},
            "last10pct_mean": {k: float(np.mean(v[-tail:])) for k, v in curves.items()},
            "json": str(out_dir / f"convergence_{family}.json"), "png": str(plot)}


def draw_curves(curves: dict[str, list[float]], path: Path, title: str) -> Path:
    """A small line plot with PIL only (no matplotlib here): log-scale y, one colour per curve."""
    w, h, pad = 720, 420, 50
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    values = np.log10(np.maximum(np.concatenate([np.asarray(v) for v in curves.values()]), 1e-6))
    lo, hi = float(values.min()), float(values.max())
    n = max(len(v) for v in curves.values())
    d.rectangle((pad, pad, w - pad, h - pad), outline="black")
    d.text((pad, 15), title + "  (y: log10 loss)", fill="black")
    for frac in (0.0, 0.5, 1.0):
        y = h - pad - frac * (h - 2 * pad)
        d.text((5, y - 6), f"{lo + frac * (hi - lo):.2f}", fill="black")
    d.text((w - pad - 40, h - pad + 8), f"step {n}", fill="black")
    for (name, values_), colour in zip(curves.items(), ("#d62728", "#1f77b4"), strict=False):
        ys = np.log10(np.maximum(np.asarray(values_), 1e-6))
        pts = [(pad + i / max(1, n - 1) * (w - 2 * pad), h - pad - (y - lo) / max(hi - lo, 1e-9) * (h - 2 * pad))
               for i, y in enumerate(ys)]
        d.line(pts, fill=colour, width=2)
        d.text((w - pad - 150, pad + 10 + 15 * list(curves).index(name)), name, fill=colour)
    im.save(path)
    return path


# ---------------------------------------------------------------------------------- row
def run(ctx: Context) -> list[Row]:
    if ctx.faces is None:
        return [Row("train throughput", "skipped", met="skip", note="shared face folder missing")]
    images = load_folder(ctx.faces, RES).images
    warmup, steps = (1, 3) if ctx.quick else (3, 10)
    rows: list[Row] = []
    for family in ("dcgan", "ae", "vae", "wgan-gp"):
        assert family in FAMILIES
        configs = {"project": PROJECT, "reference": REFERENCE, **(TOGGLES if family == "dcgan" else {})}
        result = compare(family, images, ctx.faces, configs, warmup=warmup, steps=steps)
        proj, ref = result["project"], result["reference"]
        ratio = proj["images_per_s"] / ref["images_per_s"]
        rows.append(Row(f"train {family} img/s (b{BATCH}, 64px)", f"{proj['images_per_s']:.1f}",
                        f"{ref['images_per_s']:.1f}", f"{ratio:.2f}x", f">= {TARGETS[family]:g}x",
                        yes_no(ratio >= TARGETS[family]), note=f"median of {steps} interleaved steps",
                        data=result))
        for label in TOGGLES if family == "dcgan" else ():
            var = result[label]
            rows.append(Row(f"  dcgan project vs {label}", f"{proj['images_per_s']:.1f}",
                            f"{var['images_per_s']:.1f}", f"{proj['images_per_s'] / var['images_per_s']:.2f}x",
                            note="what this one ingredient buys (same run)"))
    conv_steps = 10 if ctx.quick else 60
    conv = convergence("ae", images, ctx.faces, conv_steps, ctx.out_dir)
    p, r = conv["last10pct_mean"]["project"], conv["last10pct_mean"]["reference"]
    rows.append(Row(f"ae recon loss after {conv_steps} steps", f"{p:.4f}", f"{r:.4f}", f"{r / p:.2f}",
                    note=f"from {conv['first']['project']:.3f}/{conv['first']['reference']:.3f}, "
                         f"same init; plot {Path(conv['png']).name}", data=conv))
    return rows
