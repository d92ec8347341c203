"""Runs hostile inputs through the CLI in one process, under a memory limit, each under a time limit.

``python -m tests.core.hostile_driver JOBS.json RESULTS.jsonl``: JOBS holds the address-space
limit (bytes), the per-input limit (seconds) and the jobs, each ``{"kind", "argv"}`` (a
``waifu-studio`` command line) or ``{"kind", "load_folder", "resolution"}`` (the data loader
on a folder). Before each input a "started" line is written and flushed, so if the process dies
the test knows which input killed it; after it, one result line: exit status, stderr lines, the
exception that escaped (if any), seconds and peak resident memory.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any


class InputTimedOut(BaseException):  # noqa: N818 - not an error of the program: the test's own limit
    """Raised by SIGALRM in the main thread when one input runs past its time limit."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise InputTimedOut


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # Linux: reset VmHWM so each input's own peak is measured


def _rss_mb(field: str) -> float:
    """``VmHWM`` (peak resident memory since the last reset) or ``VmRSS`` (now), in MB."""
    with contextlib.suppress(OSError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _run_one(job: dict[str, Any], cli_main: Any) -> dict[str, Any]:
    stderr, stdout = io.StringIO(), io.StringIO()
    result: dict[str, Any] = {"kind": job["kind"], "rc": None, "error": None}
    _reset_peak_rss()
    result["rss_before_mb"] = round(_rss_mb("VmRSS"), 1)
    start = time.perf_counter()
    signal.alarm(job.get("seconds", 60))
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            if "argv" in job:
                result["rc"] = cli_main(job["argv"])
            else:
                from waifu_studio.core.data import load_folder

                dataset = load_folder(job["load_folder"], job["resolution"], use_cache=False)
                result["loaded"] = dataset.paths
                result["skipped"] = {s.path: s.reason for s in dataset.skipped}
                result["rc"] = 0
    except InputTimedOut:
        result["error"] = "timed out"
    except SystemExit as stop:  # argparse reports bad arguments this way
        result["rc"] = stop.code if isinstance(stop.code, int) else 1
    except BaseException as err:  # noqa: BLE001 - anything else escaping is what the test looks for
        result["error"] = "".join(traceback.format_exception_only(type(err), err)).strip()[-2000:]
        result["traceback"] = traceback.format_exc()[-4000:]
    finally:
        signal.alarm(0)
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["peak_rss_mb"] = round(_rss_mb("VmHWM"), 1)
    result["stderr"] = [line for line in stderr.getvalue().splitlines() if line.strip()]
    return result


def main(jobs_path: str, results_path: str) -> None:
    spec = json.loads(Path(jobs_path).read_text())
    limit = int(spec["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _on_alarm)
    warnings.simplefilter("always")  # every input shows its own warnings (they would break "one line")
    from waifu_studio.cli import main as cli_main

    with open(results_path, "a", encoding="utf-8") as out:
        for job in spec["jobs"]:
            job.setdefault("seconds", spec["seconds"])
            out.write(json.dumps({"kind": job["kind"], "started": True}) + "\n")
            out.flush()
            out.write(json.dumps(_run_one(job, cli_main)) + "\n")
            out.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
