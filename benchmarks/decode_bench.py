"""Row 2: decode latency of the bundled checkpoints, and what each ingredient of the fast path buys.

``project`` is what the app calls: ``FaceModel.decode``, which runs an inference-only copy of the
decoder (batch norm folded into the convolutions, public ``torch.nn.functional`` calls on
channels_last tensors, bf16 where ``devices.cpu_uses_bf16()``) and, for a few faces, picks 1
thread or the process's count by measured speed.
``baseline`` is the decode of before: the original fp32 modules in eval mode, NCHW, the
process's threads. Interleaved with them:

- ``fp32 folded``: the same copy kept in fp32 (``decode_precision = "fp32"``): folding + layout alone;
- ``1 thread`` / ``2 threads``: the project's copy with the thread count fixed.

Each timed call follows a 20 ms pause (other variants' OpenMP helpers stop spinning) and an
untimed call of the same variant (warm caches, as in a drag); the variants take turns, so load
changes hit them alike. The pixels of the bf16 copy are compared with the baseline's (uint8
levels, over the 64 grid faces).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import numpy as np
import torch

from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.models import tensor_to_images
from waifu_studio.core.models.threads import intra_op_threads

from .common import CHECKPOINTS, FAMILIES, Context, Row, fmt_s, median, now, percentile, yes_no

TARGET_ONE_FACE_S = 0.003
SETTLE_S = 0.02


def unfolded_decode(model, z: np.ndarray) -> np.ndarray:  # noqa: ANN001 - FaceModel
    """The decode of before: the original modules (eval mode, fp32, NCHW) and tensor_to_images."""
    with torch.no_grad():
        return tensor_to_images(model.decode_tensor(torch.from_numpy(z)))


def _variants(model) -> dict[str, Callable[[np.ndarray], np.ndarray]]:  # noqa: ANN001 - FaceModel
    fp32 = copy.deepcopy(model)
    fp32.decode_precision = "fp32"
    variants = {"project": model.decode, "baseline": lambda z: unfolded_decode(model, z), "fp32 folded": fp32.decode}
    folded = model.folded_decoder()
    if folded is None:
        return variants

    def fixed_threads(count: int | None) -> Callable[[np.ndarray], np.ndarray]:
        def decode(z: np.ndarray) -> np.ndarray:
            with torch.inference_mode(), intra_op_threads(count):
                return folded.decode_images(torch.from_numpy(z))
        return decode

    variants["1 thread"] = fixed_threads(1)
    variants[f"{torch.get_num_threads()} threads"] = fixed_threads(None)
    return variants


def run(ctx: Context) -> list[Row]:
    runs = 15 if ctx.quick else 50
    rows: list[Row] = []
    for family in FAMILIES:
        path = CHECKPOINTS / f"{family}.safetensors"
        if not path.exists():
            rows.append(Row(f"decode {family}", "skipped", met="skip", note=f"{path.name} missing"))
            continue
        model = load_checkpoint(path)
        folded = model.folded_decoder()
        how = "modules (not foldable)" if folded is None else f"{str(folded.dtype).removeprefix('torch.')} copy"
        variants = _variants(model)
        z1 = model.seeds_to_latents([7])
        z64 = model.seeds_to_latents(range(64))
        result = {}
        for label, z, reps in (("1 face", z1, runs), ("8x8 grid", z64, max(5, runs // 5))):
            for fn in variants.values():
                fn(z)  # warm-up: oneDNN builds its kernels on first use
            times: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(reps):
                for name, fn in variants.items():
                    # After a multi-thread call, OpenMP's helper threads spin for some ms; on a
                    # loaded machine they steal the core the next (one-thread) variant runs on.
                    # A pause lets them sleep, so no variant pays for the one before it.
                    time.sleep(SETTLE_S)
                    # Each variant timed right after its own untimed call: weights in cache, as
                    # in the app, where a drag or hover decodes with one model again and again.
                    fn(z)
                    t = now()
                    fn(z)
                    times[name].append(now() - t)
            result[label] = {name: median(ts) for name, ts in times.items()}
            # The fastest tenth shows the cost with the cores to itself; on a shared machine
            # the median also holds time slices lost to other processes.
            result[label]["project p10"] = percentile(times["project"], 10)
        diff = np.abs(model.decode(z64).astype(np.int16) - unfolded_decode(model, z64).astype(np.int16))
        one, grid = result["1 face"], result["8x8 grid"]

        def others(r: dict[str, float]) -> str:
            return "; ".join(f"{name} {fmt_s(t)}" for name, t in r.items() if name not in ("project", "baseline"))

        rows.append(Row(f"decode 1 face, {family}", fmt_s(one["project"]), fmt_s(one["baseline"]),
                        f"{one['baseline'] / one['project']:.2f}x", "<= 3 ms",
                        yes_no(one["project"] <= TARGET_ONE_FACE_S),
                        note=f"{how}; {others(one)}", data={"one": one, "grid": grid, "path": how}))
        rows.append(Row(f"decode 8x8 grid, {family}", fmt_s(grid["project"]), fmt_s(grid["baseline"]),
                        f"{grid['baseline'] / grid['project']:.2f}x",
                        note=f"{others(grid)}; pixels vs baseline: max {int(diff.max())}, "
                             f"mean {diff.mean():.2f} levels",
                        data={"max_abs_levels": int(diff.max()), "mean_abs_levels": float(diff.mean())}))
    return rows
