"""Row 5: the face folder -> (N, 64, 64, 3) uint8, cold (empty cache) and cached, vs a naive PIL loop.

Script: ``ingest_bench FOLDER REPEATS``; each cold repeat points $WAIFU_STUDIO_CACHE at a new empty
folder. The files themselves are probably in the OS page cache (warm disk) for every side.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time


def naive_load(folder: str):  # noqa: ANN201
    """One file at a time: open, convert, crop/resize if needed, stack. What a first script does."""
    import numpy as np
    from PIL import Image

    faces = []
    for name in sorted(os.listdir(folder)):
        if not name.lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        with Image.open(os.path.join(folder, name)) as im:
            im = im.convert("RGB")
            if im.size != (64, 64):
                im = im.resize((64, 64), Image.Resampling.LANCZOS)
            faces.append(np.asarray(im))
    return np.stack(faces)


def main() -> None:
    from waifu_studio.core.data import load_folder

    folder, repeats = sys.argv[1], int(sys.argv[2])
    cold, cached, naive = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            os.environ["WAIFU_STUDIO_CACHE"] = os.path.join(tmp, f"cold{i}")
            t = time.perf_counter()
            n = len(load_folder(folder, 64))
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            load_folder(folder, 64)
            cached.append(time.perf_counter() - t)
            t = time.perf_counter()
            n_naive = len(naive_load(folder))
            naive.append(time.perf_counter() - t)
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    print(json.dumps({"n": n, "n_naive": n_naive, "cold_s": med(cold), "cached_s": med(cached), "naive_s": med(naive),
                      "all": {"cold": cold, "cached": cached, "naive": naive}}))


if __name__ == "__main__":
    main()


def run(ctx):  # noqa: ANN001, ANN201
    from .common import Row, fmt_s, run_script, yes_no

    if ctx.faces is None:
        return [Row("ingest", "skipped", met="skip", note="shared face folder missing")]
    r = run_script("ingest_bench", [str(ctx.faces), "1" if ctx.quick else "3"])
    return [
        Row(f"ingest {r['n']:,} faces, cold cache", fmt_s(r["cold_s"]), fmt_s(r["naive_s"]),
            f"{r['naive_s'] / r['cold_s']:.1f}x", "<= 10 s", yes_no(r["cold_s"] <= 10),
            note="baseline: naive one-file PIL loop; files in OS page cache", data=r),
        Row("ingest, cached", fmt_s(r["cached_s"]), fmt_s(r["naive_s"]), f"{r['naive_s'] / r['cached_s']:.0f}x",
            "<= 1 s", yes_no(r["cached_s"] <= 1)),
    ]
