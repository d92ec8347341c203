"""Project exceptions: errors a user can cause, with messages a person can act on."""

from __future__ import annotations


class WaifuError(Exception):
    """Base class of every error a user can cause (bad folder, bad file, bad checkpoint...).

    The CLI prints ``str(err)`` on one line and exits with status 2; the GUI shows it in a dialog.
    """


class DataError(WaifuError):
    """A dataset folder cannot be used (missing, empty, no usable image)."""


class CheckpointError(WaifuError):
    """A checkpoint file is refused (not a checkpoint, truncated, unknown family, bad weights)."""


class TrainingError(WaifuError):
    """Training cannot go on (non-finite loss, out of memory, run folder not writable)."""


class NonFiniteLossError(TrainingError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class OutOfMemoryError(TrainingError):
    """The device ran out of memory during a step; a smaller batch usually helps."""


class ConfigError(WaifuError):
    """A configuration value is invalid (unknown family, bad resolution, ...)."""


class RecipeError(WaifuError):
    """A file carries no usable recipe, or the checkpoint its recipe names cannot be found."""
