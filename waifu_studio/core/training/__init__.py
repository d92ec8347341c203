"""Training: one loop for every family (``trainer``), run folders (``run_folder``), torchrun (``distributed``)."""

from __future__ import annotations

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

__all__ = ["CHECKPOINT_NAME", "CONFIG_NAME", "METRICS_NAME", "SAMPLES_DIR", "STATE_NAME", "StepMetrics", "TrainResult",
           "Trainer", "TrainingHooks", "read_metrics", "read_run_config"]
