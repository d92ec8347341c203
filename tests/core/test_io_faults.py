"""Files that block, disks that fill, interrupts during loading, outputs too large to hold."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from tests.core.image_bytes import encoded, noise
from waifu_studio.cli import main
from waifu_studio.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from waifu_studio.core.data import builtin_faces, folder, load_folder
from waifu_studio.core.io.checkpoint import load_checkpoint, save_checkpoint
from waifu_studio.core.io.files import NotRegularFileError, append_jsonl, open_regular
from waifu_studio.core.models import build_model
from waifu_studio.core.training import Trainer

ROOT = Path(__file__).resolve().parents[2]
HANG = 60  # seconds after which a call counts as hung: a hang detector, not a speed test


def finishes(call: Callable[[], Any]) -> Any:
    """``call()`` in a daemon thread; fails the test (without hanging the suite) if it never returns."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG)
    assert not thread.is_alive(), "the call blocked"
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """A tiny AE run, 4 steps in, one metric row per step."""
    run = tmp_path_factory.mktemp("base") / "run"
    config = RunConfig(ModelConfig(family="ae", resolution=32, latent_dim=4, width=4),
                       TrainConfig.for_family("ae", batch_size=16, max_steps=4, precision="fp32", device="cpu",
                                              log_every=1, sample_every=1000, sample_count=4),
                       DataConfig(source="builtin", resolution=32, builtin_count=64))
    Trainer(config, builtin_faces(count=64, resolution=32).images, run).run()
    return run


# ----------------------------------------------------------------------------- blocking files


def test_a_fifo_is_refused_at_once_wherever_a_file_is_read(tmp_path, run_folder):
    fifo = tmp_path / "face.png"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFileError, match="FIFO"):
        finishes(lambda: open_regular(fifo))
    os.mkfifo(tmp_path / "model.safetensors")
    assert finishes(lambda: main(["generate", "--checkpoint", str(tmp_path / "model.safetensors"), "--seed", "0",
                                  "--out", str(tmp_path / "g.png")])) == 2
    for name in ("train_state.pt", "config.json"):
        run = tmp_path / f"run_{name}"
        shutil.copytree(run_folder, run)
        (run / name).unlink()
        os.mkfifo(run / name)
        assert finishes(lambda run=run: main(["train", "--resume", str(run)])) == 2


def test_a_data_set_file_swapped_for_a_fifo_after_the_scan_is_skipped(tmp_path, monkeypatch):
    root = tmp_path / "faces"
    root.mkdir()
    for i in range(4):
        (root / f"{i}.png").write_bytes(encoded(noise((40, 40), seed=i), "PNG"))
    scan = folder.scan_folder

    def scan_then_swap(path: str):  # the race: listed as a file, a FIFO by the time it is decoded
        found = scan(path)
        (root / "2.png").unlink()
        os.mkfifo(root / "2.png")
        return found

    monkeypatch.setattr(folder, "scan_folder", scan_then_swap)
    dataset = finishes(lambda: load_folder(root, 32, use_cache=False))
    assert dataset.paths == ["0.png", "1.png", "3.png"]
    assert [(s.path, s.reason) for s in dataset.skipped] == [("2.png", "unreadable")]


def test_ctrl_c_while_a_resume_loads_its_state_interrupts_it(tmp_path, run_folder, monkeypatch, capsys):
    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    real_load = torch.load
    loads = []

    def interrupted_load(*args, **kwargs):  # Ctrl-C arrives while the state is read
        loads.append(signal.getsignal(signal.SIGINT))
        signal.raise_signal(signal.SIGINT)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", interrupted_load)
    # A `waifu-studio` process starts with Python's own Ctrl-C handler; set it here too, so that a
    # handler another test of this session left behind cannot decide the outcome.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = main(["train", "--resume", str(run), "--max-steps", "6"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert loads, "the resume never read its train_state.pt through torch.load"
    assert loads[0] is signal.default_int_handler  # the stop handler is not installed yet while loading
    assert code == 130  # not swallowed by the stop handler
    assert "interrupted" in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["train"]["max_steps"] == 4  # nothing was changed


# ----------------------------------------------------------------------------- full disks


def _with_file_size_limit(limit: int, *args: str) -> list[str]:
    """``waifu-studio ARGS`` in a process where writes past ``limit`` bytes fail (EFBIG) as on a full
    disk: a short write, then an error (Python ignores SIGXFSZ, so the process is not killed)."""
    start = (f"import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
             "sys.argv = ['waifu-studio', *sys.argv[1:]]; runpy.run_module('waifu_studio', run_name='__main__')")
    return [sys.executable, "-c", start, *args]


def test_a_full_disk_during_the_metrics_append_stops_in_one_line_and_keeps_everything(tmp_path, run_folder):
    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    # Fill metrics.jsonl with valid rows (steps <= 4, so a resume keeps them) to just under the limit:
    # the first row the resumed run appends is the write that no longer fits.
    limit = max(p.stat().st_size for p in run.iterdir() if p.is_file()) + 64 * 1024
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    text = "".join(json.dumps(rows[i % len(rows)]) + "\n" for i in range(limit // 150))
    while len(text) > limit - 40:
        text = text[:text.rindex("\n", 0, len(text) - 1) + 1]
    (run / "metrics.jsonl").write_text(text)
    checkpoint = (run / "checkpoint.safetensors").read_bytes()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(_with_file_size_limit(limit, "train", "--resume", str(run), "--max-steps", "8"),
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower() or "Traceback" in line]
    assert proc.returncode == 2, proc.stderr
    assert len(errors) == 1 and errors[0].startswith("waifu-studio train: error: could not log metrics"), proc.stderr
    assert errors == [proc.stderr.splitlines()[-1]]
    # No torn line: every line is a whole JSON row, as pandas.read_json(lines=True) needs.
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)
    assert (run / "checkpoint.safetensors").read_bytes() == checkpoint  # the last checkpoint is intact
    assert load_checkpoint(run / "checkpoint.safetensors").family == "ae"
    assert main(["train", "--resume", str(run), "--max-steps", "6"]) == 0  # with space again, it resumes


def test_append_jsonl_leaves_the_file_as_it_was_when_a_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"step": 1})
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:  # the disk fills half-way through the line
        real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(Exception, match="No space left on device"):
        append_jsonl(path, {"step": 2, "loss": 0.5})
    monkeypatch.undo()
    assert path.read_text() == '{"step": 1}\n'


# ----------------------------------------------------------------------------- large outputs


def test_generate_streams_many_faces_to_a_folder(tmp_path):
    torch.manual_seed(0)
    save_checkpoint(build_model(ModelConfig(family="ae", resolution=32, latent_dim=4, width=4)),
                    tmp_path / "m.safetensors")
    common = ["generate", "--checkpoint", str(tmp_path / "m.safetensors"), "--seed", "100"]
    assert main([*common, "--n", "300", "--out", str(tmp_path / "faces") + "/"]) == 0
    names = sorted(p.name for p in (tmp_path / "faces").iterdir())
    assert names == [f"seed_{s:010d}.png" for s in range(100, 400)]
    # The face of seed 357 in the folder (batch 2, row 101) is the face `generate --seed 357` draws.
    assert main(["generate", "--checkpoint", str(tmp_path / "m.safetensors"), "--seed", "357",
                 "--out", str(tmp_path / "one.png")]) == 0
    one = np.asarray(Image.open(tmp_path / "one.png").convert("RGB"))[2:-2, 2:-2]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "faces" / "seed_0000000357.png")), one)
