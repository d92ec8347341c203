"""Row: encoding a folder of faces with the bundled AE, against a plain ``eval()`` + ``no_grad`` batch loop.

``project`` is what the app and the CLI call: ``FaceModel.encode(faces)``, which runs an
inference-only copy of the encoder (batch norm folded into the convolutions, channels_last,
bf16 where ``devices.cpu_uses_bf16()``). ``baseline`` is the loop a tutorial writes: the model in
``eval()``, ``torch.no_grad()``, batches of 256 faces through the original fp32 modules (NCHW).
Both encode every shared face, interleaved in blocks of 2,048 faces so that load changes hit
them alike; faces/s = faces / summed time. The codes are compared (largest difference relative
to the codes' largest magnitude). A sweep on 4,096 faces shows what the batch size and the
thread count change (what chose ``ENCODE_BATCH``).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from waifu_studio.core.io.checkpoint import load_checkpoint
from waifu_studio.core.models import images_to_tensor
from waifu_studio.core.models.inference import ENCODE_BATCH
from waifu_studio.core.models.threads import intra_op_threads

from .common import CHECKPOINTS, Context, Row, now, yes_no

BLOCK = 2048
# After a multi-thread call OpenMP's helper threads spin for a while; on a loaded machine they take
# the core the next side runs on. A pause lets them sleep, so no side pays for the one before.
SETTLE_S = 0.2
BASELINE_BATCH = 256
TARGET_RATIO = 2.0


def plain_encode(model, faces: np.ndarray) -> np.ndarray:  # noqa: ANN001 - FaceModel
    """The baseline: eval() + no_grad over batches of 256 through the original modules."""
    model.eval()
    with torch.no_grad():
        return np.concatenate([model.encode_tensor(images_to_tensor(faces[i:i + BASELINE_BATCH])).float().numpy()
                               for i in range(0, len(faces), BASELINE_BATCH)])


def _sweep(model, faces: np.ndarray) -> str:  # noqa: ANN001 - FaceModel
    """faces/s of the copy by batch size, on one thread and on the process's count."""
    copy = model.folded_encoder()
    if copy is None:
        return "no copy"
    cells = []
    for threads in (1, torch.get_num_threads()):
        for batch in (32, 64, 128, 256, 512):
            with torch.inference_mode(), intra_op_threads(threads):
                copy(torch.from_numpy(faces[:batch]))  # warm: oneDNN builds kernels per shape
                t = now()
                for i in range(0, len(faces), batch):
                    copy(torch.from_numpy(faces[i:i + batch]))
                rate = len(faces) / (now() - t)
            cells.append(f"{threads} thr b{batch} {rate:.0f}/s")
    return ", ".join(cells)


def run(ctx: Context) -> list[Row]:
    path = CHECKPOINTS / "ae.safetensors"
    if ctx.faces is None or not path.exists():
        return [Row("encode faces/s, ae", "skipped", met="skip", note="needs the shared faces and checkpoints/ae")]
    from waifu_studio.core.data import load_folder

    faces = load_folder(ctx.faces, 64).images
    if ctx.quick:
        faces = faces[:4096]
    model = load_checkpoint(path)
    copy = model.folded_encoder()
    how = "modules (not foldable)" if copy is None else str(copy.dtype).removeprefix("torch.")
    model.encode(faces[:64])  # warm-up: oneDNN builds its kernels on first use
    plain_encode(model, faces[:64])
    spent = {"project": 0.0, "baseline": 0.0}
    project, baseline = [], []
    for i in range(0, len(faces), BLOCK):
        block = faces[i:i + BLOCK]
        time.sleep(SETTLE_S)
        t = now()
        project.append(model.encode(block))
        spent["project"] += now() - t
        time.sleep(SETTLE_S)
        t = now()
        baseline.append(plain_encode(model, block))
        spent["baseline"] += now() - t
    codes, reference = np.concatenate(project), np.concatenate(baseline)
    rel = float(np.abs(codes - reference).max() / np.abs(reference).max())
    rate = {name: len(faces) / seconds for name, seconds in spent.items()}
    ratio = rate["project"] / rate["baseline"]
    sweep = _sweep(model, faces[:4096])
    return [Row(f"encode faces/s, ae, {len(faces):,} faces", f"{rate['project']:.0f}", f"{rate['baseline']:.0f}",
                f"{ratio:.2f}x", f">= {TARGET_RATIO:.0f}x", yes_no(ratio >= TARGET_RATIO),
                note=f"{how} copy, batch {ENCODE_BATCH}; all faces {spent['project']:.1f} s vs "
                     f"{spent['baseline']:.1f} s; codes vs baseline: max diff {rel:.4f} of their scale; {sweep}",
                data={"rate": rate, "seconds": spent, "max_rel_diff": rel, "sweep": sweep})]
