"""``project`` in a child process, for callers that must stay responsive (the GUI).

A worker thread is not enough there: whatever holds Python's GIL freezes the caller's other
threads too. Importing openTSNE froze the thread that started it for ~120 ms at a time (loading
scipy's and scikit-learn's extension modules holds the GIL), umap's for ~160 ms, and scipy's
sparse maths in the affinities and umap's numba loops hold it as well. A child process has its
own GIL: the caller's thread only waits on a pipe. The price is starting a fresh interpreter and
importing torch there (1-3 s), small next to a t-SNE or UMAP map of thousands of points.
Results are identical to ``project`` (same function, same cache).

The child is ``python -m waifu_studio.core.projection_process JOB`` (not ``multiprocessing``,
whose "spawn" re-runs the caller's main script): JOB.npy holds the codes and JOB.pickle the
other arguments, both written by the parent, and the child answers with pickled messages on
its stdout. It runs at a lower CPU priority (nice 10) so the window's thread gets the cores.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import IO, Any

import numpy as np

from ...errors import WaifuError
from .layout import cached_layout, is_pca_map, project
from .params import ProgressFn, ProjectionCancelled, ProjectionParams, raise_if_cancelled
from .pca import check_codes

_POLL_S = 0.05  # how often the waiting thread looks at ``cancel``
_NICENESS = 10  # CPU priority of the child: background work


def project_in_process(codes: np.ndarray, params: ProjectionParams, *, progress: ProgressFn | None = None,
                       cancel: threading.Event | None = None, cache_key: str | None = None,
                       use_cache: bool = True) -> np.ndarray:
    """Same arguments and result as ``project``; t-SNE and UMAP run in a child process.

    PCA maps and cache hits are answered here at once. Setting ``cancel`` ends the child within
    ~50 ms (UMAP included, which ``project`` cannot interrupt).
    """
    codes = check_codes(codes)
    report = progress or (lambda fraction, layout: None)
    if is_pca_map(codes, params):
        return project(codes, params, progress=progress, cancel=cancel, cache_key=cache_key, use_cache=use_cache)
    if use_cache:
        cached = cached_layout(codes, params, cache_key)
        if cached is not None:
            report(1.0, cached)
            return cached
    raise_if_cancelled(cancel)
    with tempfile.TemporaryDirectory(prefix="waifu-map-") as folder:
        job = Path(folder) / "job"
        # The codes as .npy: np.save writes the array without holding the GIL, pickling copies it.
        np.save(job.with_suffix(".npy"), codes, allow_pickle=False)
        job.with_suffix(".pickle").write_bytes(pickle.dumps((params, cache_key, use_cache)))
        return _run_child(job, report, cancel)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Passive OpenMP waits: spinning threads fight each other on busy cores (see layout._compute).
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    package_parent = str(Path(__file__).resolve().parents[2])  # finds waifu_studio even if not installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def _run_child(job: Path, report: ProgressFn, cancel: threading.Event | None) -> np.ndarray:
    child = subprocess.Popen([sys.executable, "-m", __name__, str(job)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, env=_child_env())
    messages: queue.Queue[tuple[Any, ...]] = queue.Queue()
    # A reader thread, because waiting on a pipe with a timeout is not portable (Windows).
    reader = threading.Thread(target=_read_messages, args=(child.stdout, messages), name="map process reader",
                              daemon=True)
    reader.start()
    try:
        while True:
            raise_if_cancelled(cancel)
            try:
                message = messages.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if message[0] == "progress":
                report(message[1], message[2])
            elif message[0] == "done":
                return message[1]
            elif message[0] == "error":
                raise (ProjectionCancelled if message[1] else WaifuError)(message[2])
            elif message[0] == "crash":
                raise WaifuError(f"computing the map failed: {message[1]}\n\n{message[2]}")
            else:  # "eof": the child ended without an answer
                code = child.wait()
                raise WaifuError(f"the map process stopped without a result (exit code {code}); "
                                 "the computer may have run out of memory")
    finally:
        if child.poll() is None:
            child.kill()  # cancelled, failed, or done and still shutting down: its work is over
        child.wait()
        reader.join(5.0)
        child.stdout.close()


def _read_messages(stream: IO[bytes], messages: queue.Queue) -> None:
    try:
        while True:
            messages.put(pickle.load(stream))
    except (EOFError, OSError, pickle.UnpicklingError):
        messages.put(("eof",))


def _child_main(job_path: str) -> int:
    """The child: run ``project`` and send its progress and result as pickles on stdout."""
    if hasattr(os, "nice"):
        # Background work: on a busy 2-core machine the window's thread, competing with the
        # map's threads at equal priority, took 15-35 ms to paint 20k dots instead of ~3 ms.
        os.nice(_NICENESS)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a library's stray print must not corrupt the messages

    def send(*message: Any) -> None:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    job = Path(job_path)
    codes = np.load(job.with_suffix(".npy"), allow_pickle=False)
    params, cache_key, use_cache = pickle.loads(job.with_suffix(".pickle").read_bytes())  # from our parent
    try:
        layout = project(codes, params, cache_key=cache_key, use_cache=use_cache,
                         progress=lambda fraction, frame: send("progress", fraction, frame))
    except WaifuError as err:  # a message meant for the user: passed on as it is
        send("error", isinstance(err, ProjectionCancelled), str(err))
    except BaseException as err:  # noqa: BLE001 - a bug or a crash: reported to the parent with its traceback
        send("crash", f"{type(err).__name__}: {err}", traceback.format_exc())
    else:
        send("done", layout)
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
