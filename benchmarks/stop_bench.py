"""Stop row: what Stop waits for after the step in progress, for the GUI's default DCGAN (64 px).

The trainer, told to stop, saves a checkpoint (a GAN first recalibrates its averaged generator's
batch-norm statistics on generated faces) and draws the last sample grid. The baseline is the
same tail with the former recalibration of 256 faces; the project recalibrates 128 (see
``core/models/gan.py``). Both are timed in this run, on this machine, on the built-in faces.
"""

from __future__ import annotations

import tempfile
import time

from benchmarks.common import Context, Row, faster, fmt_s, median


def _stop_tail(batches: int, repeats: int) -> list[float]:
    from waifu_studio.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from waifu_studio.core.data import load_dataset
    from waifu_studio.core.models import gan
    from waifu_studio.core.training import Trainer, TrainingHooks

    config = RunConfig(ModelConfig("dcgan"), TrainConfig.for_family("dcgan", sample_every=100, device="cpu"),
                       DataConfig())
    images = load_dataset(config.data).images
    original = gan.GANObjective.recalibrate_batch_norm
    times = []
    try:
        gan.GANObjective.recalibrate_batch_norm = lambda self, **kw: original(self, batches=batches)
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as folder:
                trainer = Trainer(config, images, folder, TrainingHooks())
                start = time.perf_counter()
                trainer.save()  # what run() does once the loop sees Stop: save (recalibrating), then
                trainer._emit_sample()  # noqa: SLF001 - the last grid, exactly as run() draws it
                times.append(time.perf_counter() - start)
    finally:
        gan.GANObjective.recalibrate_batch_norm = original
    return times


def run(ctx: Context) -> list[Row]:
    repeats = 1 if ctx.quick else 3
    baseline = median(_stop_tail(2, repeats))
    project = median(_stop_tail(1, repeats))
    return [Row("stop (DCGAN 64 px, after the step)", fmt_s(project), fmt_s(baseline), faster(baseline, project),
                note="save + recalibration (128 vs 256 faces) + last grid; the step in progress comes on top")]
