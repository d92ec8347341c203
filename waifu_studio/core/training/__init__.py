"""Training: one loop for every family (``trainer``), run folders (``run_folder``), torchrun (``distributed``)."""

from __future__ import annotations

from .resume import NothingToTrainError, recorded_config, resumed_config
from .run_folder import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    METRICS_NAME,
    SAMPLES_DIR,
    STATE_NAME,
    read_metrics,
    read_run_config,
)
from .trainer import StepMetrics, Trainer, TrainingHooks, TrainResult

__all__ = ["CHECKPOINT_NAME", "CONFIG_NAME", "METRICS_NAME", "SAMPLES_DIR", "STATE_NAME", "NothingToTrainError",
           "StepMetrics", "TrainResult", "Trainer", "TrainingHooks", "read_metrics", "read_run_config",
           "recorded_config", "resumed_config"]
