"""Waifu Studio benchmarks: one table comparing the project with plain baselines in the same run.

    python benchmarks/run.py [--quick] [--only train,decode,...] [--skip-sklearn] [--json FILE]

Rows: train, gpu (CUDA only), decode, encode, morph, map, mapscale (mapfolder: its folder stages),
ingest, start, close, stop, memory.
Ratios compare figures taken in this run on this machine; no figure here is asserted anywhere
(see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from benchmarks import (  # noqa: E402
    app_bench,
    close_bench,
    decode_bench,
    encode_bench,
    gpu_bench,
    ingest_bench,
    map_bench,
    map_scale_bench,
    memory_bench,
    morph_bench,
    stop_bench,
    train_bench,
)
from benchmarks.common import ROOT, SHARED_FACES, Context, Row  # noqa: E402

ROWS = {
    "train": train_bench.run,
    "gpu": gpu_bench.run,
    "decode": decode_bench.run,
    "encode": encode_bench.run,
    "morph": morph_bench.run,
    "map": map_bench.run,
    "mapscale": map_scale_bench.run,
    "mapfolder": map_scale_bench.run_folder,
    "ingest": ingest_bench.run,
    "start": app_bench.run_start,
    "close": close_bench.run,
    "stop": stop_bench.run,
    "memory": lambda ctx: memory_bench.run(ctx) + app_bench.run_idle(ctx),
}
COLUMNS = ("benchmark", "project", "baseline", "ratio", "target", "met")


def machine() -> str:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    from waifu_studio.core.devices import describe_cpu

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores ({describe_cpu()}), torch {torch.__version__}"


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def table(rows: list[Row]) -> str:
    cells = [[getattr(r, c) for c in COLUMNS] + [r.note] for r in rows]
    head = list(COLUMNS) + ["note"]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *cells, strict=True)]
    line = lambda xs: "| " + " | ".join(str(x).ljust(w) for x, w in zip(xs, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and steps: a smoke run")
    parser.add_argument("--only", default="", help=f"comma-separated rows out of {','.join(ROWS)}")
    parser.add_argument("--skip-sklearn", action="store_true", help="skip the (minutes-long) scikit-learn t-SNE")
    parser.add_argument("--json", type=Path, help="also write every row (with raw data) to this JSON file")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder for loss curves and plots (default benchmarks/results)")
    args = parser.parse_args(argv)
    only = [x.strip() for x in args.only.split(",") if x.strip()] or list(ROWS)
    unknown = [x for x in only if x not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    faces = SHARED_FACES if SHARED_FACES.is_dir() else None
    ctx = Context(quick=args.quick, skip_sklearn=args.skip_sklearn, faces=faces, out_dir=args.out)
    command = "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    header = (f"Waifu Studio benchmarks - {datetime.datetime.now().isoformat(timespec='seconds')}\n"
              f"machine: {machine()}\ncommand: {command}\n"
              f"faces: {faces or 'MISSING (rows that need them are skipped)'}\nload average at start: {load()}")
    print(header, flush=True)
    rows: list[Row] = []
    loads = {}
    for name in only:
        t = time.perf_counter()
        print(f"... {name} (load {load()})", flush=True)
        try:
            new = ROWS[name](ctx)
        except Exception as err:  # noqa: BLE001 - one broken row must not hide the others
            traceback.print_exc()
            new = [Row(name, "ERROR", met="skip", note=f"{type(err).__name__}: {str(err)[:120]}")]
        rows += new
        loads[name] = load()
        print(f"    {name} took {time.perf_counter() - t:.0f} s; load now {loads[name]}", flush=True)
        for r in new:
            print(f"    {r.benchmark}: {r.project} vs {r.baseline} ({r.ratio}) {r.met} {r.note}", flush=True)
    print()
    print(header)
    print(f"load average at end: {load()}  (per row after it ran: {loads})")
    print("ratio = baseline time / project time (or project rate / baseline rate): > 1 means the project is faster")
    print(table(rows))
    missed = [r.benchmark for r in rows if r.met == "NO"]
    print(f"\ntargets missed: {len(missed)}" + (f" ({'; '.join(missed)})" if missed else ""))
    if args.json:
        args.json.write_text(json.dumps({"header": header, "loads": loads, "rows": [asdict(r) for r in rows]},
                                        indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
