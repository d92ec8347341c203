"""A run folder: the names of its files and how to read them (no training needed).

A run folder holds ``config.json`` (the :class:`RunConfig`), ``metrics.jsonl`` (one JSON object
per logged step), ``samples/step_XXXXXXXX.png`` (fixed seeds), ``checkpoint.safetensors`` (the
model, openable by the app) and ``train_state.pt`` (optimizers, step, RNG: what resuming needs).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..errors import TrainingError
from ..io.files import read_jsonl

CHECKPOINT_NAME = "checkpoint.safetensors"
STATE_NAME = "train_state.pt"
CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
SAMPLES_DIR = "samples"


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """All logged steps of a run. A torn last line (a killed writer) is skipped, not an error."""
    return read_jsonl(Path(run_dir) / METRICS_NAME)


def read_run_config(run_dir: str | os.PathLike) -> RunConfig:
    path = Path(run_dir) / CONFIG_NAME
    try:
        return RunConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, NotADirectoryError):
        raise TrainingError(f"{run_dir} is not a run folder (no {CONFIG_NAME})") from None
    except OSError as err:
        raise TrainingError(f"cannot read {path}: {err.strerror or err}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TrainingError(f"{path} is damaged: {err}") from None
