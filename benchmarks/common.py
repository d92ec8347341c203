"""Shared helpers for the benchmark rows: timing, medians, table rows, subprocesses."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_FACES = Path(os.environ.get("WAIFU_BENCH_FACES", "/work/shared/data/anime-faces-64"))
CHECKPOINTS = ROOT / "checkpoints"
FAMILIES = ("ae", "vae", "dcgan", "wgan-gp")


@dataclass
class Row:
    """One line of the final table. ``ratio`` is project/baseline as the row defines it ("x faster")."""

    benchmark: str
    project: str
    baseline: str = "-"
    ratio: str = "-"
    target: str = "-"
    met: str = "-"  # "yes" | "NO" | "-" (no target) | "skip"
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    quick: bool
    skip_sklearn: bool
    faces: Path | None  # the shared face folder, or None when it is missing
    out_dir: Path  # where curves, plots and raw JSON go


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return float(ordered[k])


def fmt_s(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def yes_no(ok: bool) -> str:
    return "yes" if ok else "NO"


def faster(baseline: float, project: float) -> str:
    """'4.2x' meaning the project takes 1/4.2 of the baseline's time (or does 4.2x the work)."""
    if not project or project != project or baseline != baseline:
        return "n/a"
    return f"{baseline / project:.1f}x"


def run_script(module: str, args: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> dict:
    """Run ``python -m benchmarks.<module> args`` in a fresh process; its last stdout line is JSON."""
    full_env = dict(os.environ)
    full_env.setdefault("QT_QPA_PLATFORM", "offscreen")
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise RuntimeError(f"benchmarks.{module} {' '.join(args)} failed (rc {proc.returncode}):\n{tail}")
    return json.loads(lines[-1])


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB.

    Not ``getrusage().ru_maxrss``: Linux keeps ru_maxrss across fork + execve, so a process
    spawned by a big parent (this runner holds the training data) reports the parent's peak.
    """
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def now() -> float:
    return time.perf_counter()
