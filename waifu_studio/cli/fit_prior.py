"""``waifu-studio fit-prior``: refit an AE's or VAE's sampling prior to a folder's codes, without training."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.config import SPLITS
from .common import CliError, out_file, progress_bar


def components_arg(text: str) -> str | int:
    """argparse type: 'auto' or a whole number of mixture components >= 1."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number >= 1, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    fp = sub.add_parser("fit-prior", help="refit an AE/VAE's sampling prior (a Gaussian mixture) to a folder's codes")
    fp.add_argument("--checkpoint", required=True, help="an AE or VAE checkpoint")
    fp.add_argument("--data", required=True, help="folder of the faces whose codes the prior is fitted to")
    fp.add_argument("--split", choices=SPLITS, default="train",
                    help="faces to fit to (default train; the mixture is then chosen on the val split)")
    fp.add_argument("--components", type=components_arg, default="auto",
                    help="'auto' (chosen by held-out likelihood, default) or a number of components")
    fp.add_argument("--out", required=True, help="FILE.safetensors: the refitted checkpoint")
    fp.add_argument("--device", default="cpu")
    fp.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core.devices import select_device
    from ..core.models.prior_fit import describe_report
    from ..core.training.prior_refit import refit_checkpoint

    out = out_file(args.out, (".safetensors",))
    if not Path(args.data).is_dir():
        raise CliError(f"data folder not found: {args.data}")
    bar = progress_bar(1000, "fitting prior")

    def on_progress(fraction: float, text: str) -> None:
        bar.n = int(1000 * fraction)
        bar.set_description(text, refresh=True)

    path, report = refit_checkpoint(args.checkpoint, args.data, out, split=args.split, components=args.components,
                                    device=select_device(args.device), progress=on_progress)
    bar.close()
    for c in report["candidates"]:
        print(f"  {c['components']:>3} {c['covariance']:<9} held-out log-likelihood {c['heldout_loglik']:12.2f}"
              f"{'' if c['converged'] else '  (not converged)'}  {c['seconds']:.1f} s")
    print(f"chose {describe_report(report)}")
    print(f"wrote {path}")
    return 0
