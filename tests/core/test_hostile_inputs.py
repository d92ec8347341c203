"""The promise: any input gives a correct result or a one-line error with exit status 2, within
seconds and bounded memory, and nothing saved is lost.

Four kinds of input, each from the project's own generators (``hostile_files``, ``hostile_runs``):
image files, checkpoints, run folders and command lines. Each input type runs in one subprocess
(``hostile_driver``) under an address-space limit, every input under its own time limit; the
driver reports exit status, stderr, escaped exceptions and peak memory per input.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.core.hostile_files import CHECKPOINT_KINDS, IMAGE_KINDS, OK, Kind
from tests.core.hostile_runs import ARGUMENT_KINDS, RUN_FOLDER_KINDS
from tests.core.image_bytes import encoded, noise
from waifu_studio.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from waifu_studio.core.data import builtin_faces
from waifu_studio.core.io.checkpoint import save_checkpoint
from waifu_studio.core.models import build_model
from waifu_studio.core.training import Trainer

ROOT = Path(__file__).resolve().parents[2]
# Address space of the driver process. Importing torch and running a tiny model reserves ~1 GB of
# it; 3 GiB leaves room for every legitimate input here, and anything that tries to allocate a
# stated size (GBs from a few bytes) fails against it instead of swapping the machine.
MEMORY_BYTES = 3 * 2**30
# Resident memory one input may add to the driver's own: a tiny model's work is tens of MB and the
# 16-megapixel zlib PNG about 100 MB; the inputs that state gigabytes (a 1 GiB deflated tensor, a
# 3.4-billion-parameter config) would add at least a GiB if anything were allocated from them.
PEAK_EXTRA_MB = 768
# Every input finishes in under ~3 s on an idle 2-core machine; 60 s leaves a 20x margin for a
# busy CI runner, and a hang (a FIFO, a /proc walk) still ends the input.
SECONDS = 60
STEPS = 4  # steps of the tiny run folder every run-folder kind starts from


def _tiny_ae() -> Any:
    torch.manual_seed(0)
    return build_model(ModelConfig(family="ae", resolution=32, latent_dim=16, width=8))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The good inputs the hostile ones are made from: checkpoints, a run folder, a face folder."""
    root = tmp_path_factory.mktemp("base")
    ae = _tiny_ae()
    save_checkpoint(ae, root / "ae.safetensors")
    save_checkpoint(ae, root / "good_fp16.bin", dtype=torch.float16)
    save_checkpoint(ae, root / "good_bf16.bin", dtype=torch.bfloat16)
    save_checkpoint(build_model(ModelConfig(family="dcgan", resolution=32, latent_dim=16, width=8)),
                    root / "dcgan.safetensors")
    config = RunConfig(ModelConfig(family="ae", resolution=32, latent_dim=16, width=8),
                       TrainConfig.for_family("ae", batch_size=16, max_steps=STEPS, precision="fp32", device="cpu",
                                              log_every=1, sample_every=1000, sample_count=4),
                       DataConfig(source="builtin", resolution=32, builtin_count=64))
    Trainer(config, builtin_faces(count=64, resolution=32).images, root / "run").run()
    faces = root / "faces"
    faces.mkdir()
    for i in range(8):
        (faces / f"face{i}.png").write_bytes(encoded(noise((64, 64), seed=i), "PNG"))
    (root / "plain.txt").write_text("a regular file")
    os.mkfifo(root / "face.png")
    return {"root": root, "ckpt": root / "ae.safetensors", "gan": root / "dcgan.safetensors", "run": root / "run",
            "data": faces, "file": root / "plain.txt", "fifo": root / "face.png"}


def run_driver(jobs: list[dict[str, Any]], folder: Path) -> dict[str, dict[str, Any]]:
    """Run ``jobs`` in one driver subprocess; a kind that started but never reported killed it."""
    spec, results = folder / "jobs.json", folder / "results.jsonl"
    spec.write_text(json.dumps({"memory_bytes": MEMORY_BYTES, "seconds": SECONDS, "jobs": jobs}))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WAIFU_STUDIO_CACHE": str(folder / "cache")}
    proc = subprocess.run([sys.executable, "-m", "tests.core.hostile_driver", str(spec), str(results)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=SECONDS * len(jobs) + 120)
    reported: dict[str, dict[str, Any]] = {}
    for line in results.read_text().splitlines() if results.exists() else []:
        row = json.loads(line)
        reported[row["kind"]] = row if not row.get("started") else {
            "kind": row["kind"], "rc": None,
            "error": f"the driver died (status {proc.returncode}): {proc.stderr.strip()[-300:]}"}
    return reported


def problem(kind: Kind, result: dict[str, Any] | None) -> str | None:
    """What broke the promise for ``kind``, or None."""
    if result is None:
        return "never ran"
    if result.get("error"):
        return result["error"].splitlines()[-1][:300]
    if result["peak_rss_mb"] - result["rss_before_mb"] > PEAK_EXTRA_MB:
        return f"memory grew by {result['peak_rss_mb'] - result['rss_before_mb']:.0f} MB"
    lines, rc = result["stderr"], result["rc"]
    if kind.expect == OK:
        return None if rc == 0 else f"expected success, got exit {rc}: {' | '.join(lines)[:300]}"
    if rc != 2:
        return f"expected exit 2, got {rc}: {' | '.join(lines)[:300]}"
    # One line of error, last; lines before it may only be the command's own progress ("data: ...").
    errors = [line for line in lines if ": error: " in line]
    if len(errors) != 1 or lines[-1] != errors[0] or not errors[0].startswith("waifu-studio") \
            or any(line.startswith((" ", "\t", "Traceback")) or "Warning" in line for line in lines):
        return f"expected one error line, got: {' | '.join(lines)[:400]}"
    return None


def check(kinds: list[Kind], results: dict[str, dict[str, Any]]) -> list[str]:
    """Problems of ``kinds``: one line each, naming the kind."""
    return [f"{k.name}: {p}" for k in kinds if (p := problem(k, results.get(k.name))) is not None]


# ----------------------------------------------------------------------------- the four input types


def _image_jobs(base: dict[str, Path], folder: Path) -> list[dict[str, Any]]:
    faces, loose = folder / "faces", folder / "loose"
    faces.mkdir()
    loose.mkdir()
    jobs = []
    for kind in IMAGE_KINDS:
        kind.make(loose / kind.name)
        if kind.in_folder:
            kind.make(faces / kind.name)
        jobs.append({"kind": f"image:{kind.name}", "argv": [
            "morph", "--checkpoint", str(base["ckpt"]), "--from", str(loose / kind.name), "--to", "3",
            "--out", str(folder / "m.png")]})
    return [*jobs, {"kind": "image:__folder__", "load_folder": str(faces), "resolution": 32}]


def _checkpoint_jobs(base: dict[str, Path], folder: Path) -> list[dict[str, Any]]:
    jobs = []
    for kind in CHECKPOINT_KINDS:
        path = folder / f"{kind.name}.safetensors"
        kind.make(path, base["ckpt"])
        jobs.append({"kind": f"checkpoint:{kind.name}", "argv": [
            "generate", "--checkpoint", str(path), "--seed", "0", "--out", str(folder / "g.png")]})
    return jobs


def _run_folder_jobs(base: dict[str, Path], folder: Path) -> list[dict[str, Any]]:
    jobs = []
    for kind in RUN_FOLDER_KINDS:
        run = folder / kind.name
        shutil.copytree(base["run"], run)
        kind.make(run)
        # One step more than the run has: a resume with nothing left to train is refused by design.
        jobs.append({"kind": f"run:{kind.name}",
                     "argv": ["train", "--resume", str(run), "--max-steps", str(STEPS + 1)]})
    return jobs


def _argument_jobs(base: dict[str, Path], folder: Path) -> list[dict[str, Any]]:
    jobs = []
    for kind in ARGUMENT_KINDS:
        out = folder / kind.name
        out.mkdir()
        values = {**{k: str(v) for k, v in base.items()}, "out": str(out), "new_run": str(out / "run")}
        jobs.append({"kind": f"argument:{kind.name}", "argv": [arg.format(**values) for arg in kind.make()]})
    return jobs


INPUT_TYPES = {"image": (IMAGE_KINDS, _image_jobs), "checkpoint": (CHECKPOINT_KINDS, _checkpoint_jobs),
               "run": (RUN_FOLDER_KINDS, _run_folder_jobs), "argument": (ARGUMENT_KINDS, _argument_jobs)}


@pytest.fixture(scope="module")
def results(base: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every kind of every input type, through one driver process (one start-up of PyTorch, not four)."""
    jobs = []
    for name, (_, make_jobs) in INPUT_TYPES.items():
        jobs += make_jobs(base, tmp_path_factory.mktemp(name))
    return run_driver(jobs, tmp_path_factory.mktemp("driver"))


def outcome(input_type: str, results: dict[str, dict[str, Any]]) -> list[str]:
    kinds = INPUT_TYPES[input_type][0]
    return check(kinds, {k.split(":", 1)[1]: v for k, v in results.items() if k.startswith(input_type + ":")})


def test_every_input_type_has_at_least_40_kinds():
    for kinds in (IMAGE_KINDS, CHECKPOINT_KINDS, RUN_FOLDER_KINDS, ARGUMENT_KINDS):
        assert len(kinds) >= 40
        assert len({k.name for k in kinds}) == len(kinds)


def test_hostile_images_give_a_face_or_one_line(results):
    assert outcome("image", results) == []
    # In a data set each bad file is skipped with a reason and each good one loaded; nothing is fatal.
    loaded = results["image:__folder__"]
    assert problem(Kind("__folder__", None, OK), loaded) is None
    in_folder = [k for k in IMAGE_KINDS if k.in_folder]
    assert loaded["loaded"] == sorted(k.name for k in in_folder if k.expect == OK)
    assert sorted(loaded["skipped"]) == sorted(k.name for k in in_folder if k.expect != OK)


def test_hostile_checkpoints_generate_or_give_one_line(results):
    assert outcome("checkpoint", results) == []


def test_tampered_run_folders_resume_or_give_one_line(results):
    assert outcome("run", results) == []


def test_hostile_arguments_run_or_give_one_line(results):
    assert outcome("argument", results) == []
