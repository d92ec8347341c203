"""Row 2: GPU training throughput, dcgan 64 px batch 128, project vs a tutorial-style loop on CUDA.

Same architecture, objective code and initial weights on every side (as in row 1). Sides:

* reference: the PyTorch DCGAN tutorial's way: a DataLoader over the JPEG files (2 workers, PIL
  decode every epoch), ``batch.to(device)`` each step, fp32, NCHW, Adam with its default
  (foreach, unfused) kernels;
* project:   the Trainer's path: the whole set resident on the GPU as uint8, bf16 autocast,
  channels_last, fused Adam;
* project + torch.compile: the same with ``TrainConfig.compile`` (``waifu-studio train --compile``).

Each side runs warm-up steps (compilation included there), then blocks of timed steps in turn
(round robin), bracketed by ``torch.cuda.synchronize``; images/s is the median over blocks.
Skipped with a note when there is no CUDA device.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable

import numpy as np
import torch

from waifu_studio.core.config import ModelConfig, RunConfig, TrainConfig
from waifu_studio.core.data import load_folder
from waifu_studio.core.training import Trainer

from .common import Context, Row, median, now, yes_no
from .train_bench import BATCH, RES, file_batches

TARGET_RATIO = 3.0
TARGET_RATE = 25_000.0
SIDES = {
    "reference": {"precision": "fp32", "channels_last": False, "compile": False, "data": "files"},
    "project": {"precision": "bf16", "channels_last": True, "compile": False, "data": "memory"},
    "project + compile": {"precision": "bf16", "channels_last": True, "compile": True, "data": "memory"},
}


def _trainer(images: np.ndarray, run_dir: str, side: dict) -> Trainer:
    cfg = RunConfig(model=ModelConfig(family="dcgan", resolution=RES, latent_dim=128, width=64),
                    train=TrainConfig.for_family("dcgan", batch_size=BATCH, precision=side["precision"],
                                                 channels_last=side["channels_last"], compile=side["compile"],
                                                 device="cuda", seed=0, max_steps=1_000_000))
    trainer = Trainer(cfg, images, run_dir)
    if side["data"] == "files":  # the tutorial's optimizer: torch's default (foreach) Adam, not fused
        for opt in trainer.objective._optimizers.values():
            for group in opt.param_groups:
                group["fused"], group["foreach"] = False, None
    trainer.model.train()
    trainer.objective.train()
    return trainer


def _stepper(trainer: Trainer, side: dict, folder) -> Callable[[], dict]:  # noqa: ANN001 - Path
    files = file_batches(folder) if side["data"] == "files" else None
    device = trainer.device

    def step() -> dict:
        if files is None:
            x, autocast = trainer._batch(), trainer.autocast
        else:
            x, autocast = next(files).to(device), contextlib.nullcontext
        losses = trainer.objective.train_step(x, trainer.step, autocast)
        trainer.step += 1
        return losses

    return step


def run(ctx: Context) -> list[Row]:
    if not torch.cuda.is_available():
        return [Row("gpu train dcgan img/s", "skipped", met="skip", note="no CUDA device here")]
    if ctx.faces is None:
        return [Row("gpu train dcgan img/s", "skipped", met="skip", note="shared face folder missing")]
    images = load_folder(ctx.faces, RES).images
    warmup, block, blocks = (5, 20, 2) if ctx.quick else (30, 100, 3)
    dirs, steppers, errors = [], {}, {}
    for name, side in SIDES.items():
        dirs.append(tempfile.TemporaryDirectory())
        try:  # one failing side (torch.compile has failed on some GPUs) must not hide the others
            steppers[name] = _stepper(_trainer(images, dirs[-1].name, side), side, ctx.faces)
            for _ in range(warmup):
                steppers[name]()
        except Exception as err:  # noqa: BLE001 - reported in the row
            errors[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:100]}"
            steppers.pop(name, None)
    rates: dict[str, list[float]] = {name: [] for name in steppers}
    last: dict[str, dict] = {}
    try:
        torch.cuda.synchronize()
        for _ in range(blocks):
            for name, step in steppers.items():
                torch.cuda.synchronize()
                t = now()
                for _ in range(block):
                    losses = step()
                torch.cuda.synchronize()
                rates[name].append(block * BATCH / (now() - t))
                last[name] = {k: round(float(v), 3) for k, v in losses.items()}
    finally:
        for d in dirs:
            d.cleanup()
    device = torch.cuda.get_device_name()
    if "reference" not in rates:
        return [Row("gpu train dcgan img/s", "ERROR", met="skip", note=f"reference failed: {errors['reference']}")]
    ref = median(rates["reference"])
    rows = []
    for name in ("project", "project + compile"):
        if name not in rates:
            rows.append(Row(f"gpu train dcgan img/s, {name}", "ERROR", f"{ref:,.0f}", met="skip",
                            note=f"{device}; {errors.get(name)}"))
            continue
        rate = median(rates[name])
        ok = rate / ref >= TARGET_RATIO and rate >= TARGET_RATE
        rows.append(Row(f"gpu train dcgan img/s, {name}", f"{rate:,.0f}", f"{ref:,.0f}", f"{rate / ref:.2f}x",
                        f">= {TARGET_RATIO:g}x and >= {TARGET_RATE:,.0f}", yes_no(ok),
                        note=f"{device}; median of {blocks} blocks of {block} steps; last losses {last[name]}",
                        data={"rates": rates, "last_losses": last, "device": device}))
    return rows
