"""Row 7 (training part): peak RSS training dcgan 64x64 on the shared faces (fresh process).

``memory_bench project FOLDER STEPS``: the real ``Trainer.run`` (data loaded through the cache),
``memory_bench reference FOLDER STEPS``: the tutorial-style loop (DataLoader over the files,
2 workers, fp32); its peak is the main process's (workers not counted).
"""

from __future__ import annotations

import json
import sys
import tempfile


def main() -> None:
    mode, folder, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    from waifu_studio.core.data import load_folder

    from .train_bench import make_trainer, step_fn

    if mode == "project":
        from dataclasses import replace

        images = load_folder(folder, 64).images
        with tempfile.TemporaryDirectory() as run_dir:
            trainer = make_trainer("dcgan", images, run_dir, precision="bf16", channels_last=True)
            trainer.config = replace(trainer.config, train=trainer.config.train.replace(max_steps=steps))
            trainer.total_steps = steps
            trainer.run()
    else:
        from pathlib import Path

        import numpy as np

        dummy = np.zeros((2, 64, 64, 3), np.uint8)  # the Trainer only builds the model; data comes from files
        with tempfile.TemporaryDirectory() as run_dir:
            trainer = make_trainer("dcgan", dummy, run_dir, precision="fp32", channels_last=False)
            step = step_fn(trainer, "files", Path(folder))
            for _ in range(steps):
                step()
    from .common import peak_rss_mb

    print(json.dumps({"self_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()


def run(ctx):  # noqa: ANN001, ANN201
    from .common import Row, run_script, yes_no

    if ctx.faces is None:
        return [Row("memory: training", "skipped", met="skip", note="shared face folder missing")]
    steps = "5" if ctx.quick else "20"
    p = run_script("memory_bench", ["project", str(ctx.faces), steps])
    r = run_script("memory_bench", ["reference", str(ctx.faces), steps])
    return [Row(f"memory: train dcgan {steps} steps (peak RSS)", f"{p['self_mb']:.0f} MB", f"{r['self_mb']:.0f} MB",
                "-", "<= 2 GB", yes_no(p["self_mb"] <= 2048),
                note="project holds all 20k faces as uint8 (246 MB); baseline: main process, workers not counted",
                data={"project": p, "reference": r})]
