"""Row 2: decode latency of the bundled checkpoints, and whether bf16 or channels_last would pay.

``project`` is what the app calls (``FaceModel.decode``, fp32, NCHW). The variants are the same
model converted to bf16 weights, or to channels_last; the bf16 faces are compared with fp32's
pixel by pixel (uint8 levels). Variants are timed interleaved with the project path.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from waifu_studio.core.checkpoint import load_checkpoint

from .common import CHECKPOINTS, FAMILIES, Context, Row, fmt_s, median, now, yes_no

TARGET_ONE_FACE_S = 0.003


def _variants(model):
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    return {"fp32": model, "bf16": bf16, "channels_last": cl}


def run(ctx: Context) -> list[Row]:
    runs = 15 if ctx.quick else 50
    rows: list[Row] = []
    for family in FAMILIES:
        path = CHECKPOINTS / f"{family}.safetensors"
        if not path.exists():
            rows.append(Row(f"decode {family}", "skipped", met="skip", note=f"{path.name} missing"))
            continue
        model = load_checkpoint(path)
        variants = _variants(model)
        z1 = model.seeds_to_latents([7])
        z64 = model.seeds_to_latents(range(64))
        result = {}
        for label, z, reps in (("1 face", z1, runs), ("8x8 grid", z64, max(5, runs // 5))):
            for m in variants.values():
                m.decode(z)  # warm-up: oneDNN builds its kernels on first use
            times = {name: [] for name in variants}
            for _ in range(reps):
                for name, m in variants.items():
                    t = now()
                    m.decode(z)
                    times[name].append(now() - t)
            result[label] = {name: median(ts) for name, ts in times.items()}
        ref = model.decode(z64).astype(np.int16)
        diff = np.abs(variants["bf16"].decode(z64).astype(np.int16) - ref)
        one, grid = result["1 face"], result["8x8 grid"]
        best = min(one, key=one.get)
        rows.append(Row(f"decode 1 face, {family} (fp32 vs bf16)", fmt_s(one["fp32"]), fmt_s(one["bf16"]),
                        f"{one['bf16'] / one['fp32']:.2f}x", "<= 3 ms", yes_no(one["fp32"] <= TARGET_ONE_FACE_S),
                        note=f"channels_last {fmt_s(one['channels_last'])}; fastest: {best}",
                        data={"one": one, "grid": grid}))
        rows.append(Row(f"decode 8x8 grid, {family} (fp32 vs bf16)", fmt_s(grid["fp32"]), fmt_s(grid["bf16"]),
                        f"{grid['bf16'] / grid['fp32']:.2f}x",
                        note=f"channels_last {fmt_s(grid['channels_last'])}; bf16 vs fp32 pixels: "
                             f"max {int(diff.max())}, mean {diff.mean():.2f} levels",
                        data={"bf16_max_abs": int(diff.max()), "bf16_mean_abs": float(diff.mean())}))
    return rows
