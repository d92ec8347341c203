"""What every command shares: one-line errors, argument types, output checks, progress, model loading."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

EXIT_USAGE = 2


class CliError(Exception):
    """A one-line error for the user."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + error
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def int_at_least(minimum: int, maximum: int | None = None):  # noqa: ANN202 - an argparse type callable
    """argparse type: a whole number in ``[minimum, maximum]``, with a one-line message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"expected a number <= {maximum:,}, got {_short(value)}")
        return value

    return parse


def float_between(minimum: float, maximum: float):  # noqa: ANN202 - an argparse type callable
    """argparse type: a finite number in ``[minimum, maximum]`` (never NaN or infinity)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"expected a number from {minimum:g} to {maximum:g}, got {text[:40]}")
        return value

    return parse


def _short(value: int) -> str:
    text = str(value)
    return text if len(text) <= 20 else f"{text[:8]}...({len(text)} digits)"


positive_int = int_at_least(1)
nonneg_int = int_at_least(0)


def seed_int(text: str) -> int:
    """argparse type: a seed, 0 to ``MAX_SEED`` (imported on use: it loads the models package)."""
    from ..core.models.seeds import MAX_SEED

    return int_at_least(0, MAX_SEED)(text)


def out_file(path: str, suffixes: tuple[str, ...]) -> Path:
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise CliError(f"--out must end in {' or '.join(suffixes)}: {path}")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise CliError(f"cannot write {out}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CliError(f"cannot write {out}: folder {folder} is not writable")
    return out


def check_run_dir(run_dir: Path) -> None:
    """The run folder can be created: its nearest existing ancestor is a writable folder."""
    ancestor = run_dir.absolute()
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if run_dir.exists() and not run_dir.is_dir():
        raise CliError(f"cannot create run folder {run_dir}: it is a file")
    if not ancestor.is_dir():
        raise CliError(f"cannot create run folder {run_dir}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise CliError(f"cannot create run folder {run_dir}: folder {ancestor} is not writable")


def progress_bar(total: int, desc: str, unit: str = "it", disable: bool = False) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                disable=disable or (not sys.stderr.isatty() and os.environ.get("WAIFU_STUDIO_PROGRESS") != "1"))


def load_model(path: str, device: str = "cpu") -> Any:
    from ..core.devices import select_device
    from ..core.io.known_checkpoints import open_checkpoint

    model = open_checkpoint(path, device=select_device(device))
    # Files (grids, strips, eval figures) are decoded in fp32 (decode_exact, core/explore/reproduce.py)
    # by the CLI and the app alike: identical pixels on every machine. The app's display decodes in
    # bf16 where the CPU has it natively; everything the CLI decodes is in fp32.
    model.decode_precision = "fp32"
    model.encode_precision = "fp32"  # an image file given as an endpoint: the same latent on every machine
    return model


def parse_endpoint(model: Any, text: str) -> Any:
    """A seed (integer) or an image file -> latent (encoded for ae/vae, inverted for GANs)."""
    from ..core.data import load_image_file
    from ..core.explore.latent import invert_image

    if text.strip().isdigit():
        return model.seeds_to_latents([int(text)])[0]
    if not Path(text).exists():
        raise CliError(f"{text!r} is neither a seed nor an existing image file")
    image = load_image_file(text, model.resolution)
    if model.has_encoder:
        return model.encode(image[None])[0]
    bar = progress_bar(300, f"inverting {Path(text).name}", "step")
    def on_step(step: int, total: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(mse=f"{loss:.4f}")

    z = invert_image(model, image, steps=300, progress=on_step)
    bar.close()
    return z


# -------------------------------------------------------------------- commands
