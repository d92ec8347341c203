"""Refit a saved AE's or VAE's sampling prior without training: checkpoint in, checkpoint out.

The CLI's ``fit-prior`` and the app's dialog both call ``refit_checkpoint``. Only the prior changes:
the networks are loaded and written back in the storage type they came in (fp16 for the bundled
files), so their weights come back bit for bit.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import WaifuError
from ..io.checkpoint import load_checkpoint, save_checkpoint
from ..models.prior_fit import ProgressFn, refit_from_folder

if TYPE_CHECKING:
    import torch


def refit_checkpoint(checkpoint: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, *,
                     split: str = "train", components: str | int = "auto", device: str | torch.device = "cpu",
                     progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> tuple[Path, dict]:
    """Fit ``checkpoint``'s prior to the codes of ``data``'s ``split`` faces and save it as ``out``.

    Returns the written path and the fit report (what was chosen, every candidate's score).
    Nothing is written if the fit fails or is cancelled.
    """
    model = load_checkpoint(checkpoint, device=device)
    if model.prior is None:
        raise WaifuError(f"{Path(checkpoint).name} is a {model.family} model, which samples from its own prior; "
                         "only AE and VAE models take a fitted one")
    report = refit_from_folder(model, str(data), split, components, progress=progress, cancel=cancel)
    info = model.checkpoint_info
    return save_checkpoint(model, out, dtype=info.weights_dtype, training=info.training), report
