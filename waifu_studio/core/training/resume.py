"""Resuming a run: what a new session may change, what config.json keeps, and when nothing is left.

The rules come from the setting declarations (:mod:`..settings`): a ``fixed`` setting (architecture,
data, batch size, seed) may not change, a ``recorded`` one may and is kept in ``config.json`` for
later resumes, a ``session`` one (device, time budget) applies to this session only. The CLI's
``train --resume`` and the app's "Resume training" both go through :func:`resumed_config`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..config import SETTINGS, RunConfig, TrainConfig, setting_named
from ..errors import ConfigError, TrainingError
from ..settings import RECORDED, Setting, show


def _declaration(name: str) -> Setting:
    try:
        return setting_named(name)  # "resolution" is the model's (the data's follows it)
    except KeyError:
        raise ConfigError(f"unknown setting {show(name)}") from None


def _with(config: RunConfig, decl: Setting, value: Any) -> RunConfig:
    section = getattr(config, decl.section)
    return dataclasses.replace(config, **{decl.section: dataclasses.replace(section, **{decl.name: value})})


def resumed_config(stored: RunConfig, changes: Mapping[str, Any]) -> RunConfig:
    """``stored`` with ``changes`` (setting name -> value; None: not given) applied for a resumed session.

    A change to a setting the run is built on raises a one-line :class:`ConfigError` that says why;
    giving such a setting its stored value is not a change.
    """
    config = stored
    for name, value in changes.items():
        if value is None:
            continue
        decl = _declaration(name)
        value = decl.check(value)
        old = getattr(getattr(stored, decl.section), name)
        if value == old:
            continue
        if not decl.may_change_on_resume:
            flag = decl.cli_flag or name
            raise ConfigError(f"{flag} cannot change when resuming (the run has {show(old)}, not {show(value)}): "
                              f"{decl.why_fixed}")
        config = _with(config, decl, value)
    return config


def recorded_config(stored: RunConfig, resumed: RunConfig) -> RunConfig:
    """What ``config.json`` keeps after a resume: the stored run with the resumed ``recorded`` settings.

    Session settings (device, time budget, precision...) keep their stored values, so a later
    resume on another machine starts from the run's own choices.
    """
    config = stored
    for decl in SETTINGS:
        if decl.resume == RECORDED:
            config = _with(config, decl, getattr(getattr(resumed, decl.section), decl.name))
    return config


def _setting_name(decl: Setting) -> str:
    return decl.cli_flag or decl.name


class NothingToTrainError(TrainingError):
    """A resumed run has already trained as far as its (possibly raised) epochs or max steps reach."""

    def __init__(self, step: int, steps_per_epoch: int, train: TrainConfig) -> None:
        self.step, self.steps_per_epoch, self.train = step, steps_per_epoch, train
        super().__init__(self.message())

    def message(self, name_of: Callable[[Setting], str] = _setting_name) -> str:
        """Why no step is left and which setting to raise; ``name_of`` names it (a flag, a form label)."""
        tc, step, per_epoch = self.train, self.step, self.steps_per_epoch
        epochs, max_steps = _declaration("epochs"), _declaration("max_steps")
        fixes = []
        if tc.epochs * per_epoch <= step:
            fixes.append(f"set {name_of(epochs)} to {step // per_epoch + 1:,} or more (it is {tc.epochs:,})")
        if tc.max_steps and tc.max_steps <= step:
            fixes.append(f"raise {name_of(max_steps)} above {step:,} or set it to 0, no limit "
                         f"(it is {tc.max_steps:,})")
        return (f"this run has already trained {step:,} steps ({step / per_epoch:.4g} epochs of {per_epoch:,} "
                f"steps); to train it longer, {' and '.join(fixes)}")


def check_steps_left(step: int, steps_per_epoch: int, total_steps: int, train: TrainConfig) -> None:
    """Raise :class:`NothingToTrainError` when a resumed run has no step left to train."""
    if step >= total_steps:
        raise NothingToTrainError(step, steps_per_epoch, train)
