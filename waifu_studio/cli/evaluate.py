"""``waifu-studio eval``: reconstruction error, FID and KID."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..core.config import SPLITS
from .common import (
    CliError,
    int_at_least,
    load_model,
    out_file,
    progress_bar,
)


def register(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("eval", help="quality figures: reconstruction MSE/PSNR, FID/KID")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--data", required=True, help="folder of real faces")
    ev.add_argument("--split", choices=SPLITS, default="all", help="faces to reconstruct (default all)")
    ev.add_argument("--fid", action="store_true", help="FID/KID of --fid-n generated faces against all of --data")
    ev.add_argument("--fid-n", type=int_at_least(2, 50_000), default=5000,
                    help="generated faces for FID (seeds 0..n-1; 2 to 50,000, the usual FID size)")
    ev.add_argument("--precision-recall", action="store_true",
                    help="memorisation and coverage: precision/recall of --pr-n generated faces against --data's "
                         "training split, share of generated faces closer to a training face than held-out faces are")
    ev.add_argument("--pr-n", type=int_at_least(2, 50_000), default=2000,
                    help="generated (and sampled real) faces for it (2 to 50,000)")
    ev.add_argument("--pr-k", type=int_at_least(1, 100), default=3, help="k of the k-NN manifolds (default 3; 1-100)")
    ev.add_argument("--clouds-out", help="also write both clouds' 2-D map as FILE.npz (xy, generated)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--device", default="auto")
    ev.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core.data import load_folder
    from ..core.quality.metrics import fid_kid, generate_for_fid, recon_metrics, reference_stats

    if not Path(args.data).is_dir():
        raise CliError(f"data folder not found: {args.data}")
    model = load_model(args.checkpoint, args.device)
    result: dict[str, Any] = {"checkpoint": str(args.checkpoint), "family": model.family}
    if model.has_encoder:
        faces = load_folder(args.data, model.resolution, split=args.split)
        result.update(recon_metrics(model, faces.images))
        result["split"] = args.split
    if args.fid:
        from ..core.devices import select_device

        device = select_device(args.device)  # "auto" -> a real device for the Inception network
        ref_bar = progress_bar(0, "reference features", "img")
        def on_reference(done: int, total: int) -> None:
            ref_bar.total, ref_bar.n = total, done
            ref_bar.refresh()

        ref = reference_stats(args.data, key=None, device=device, progress=on_reference)
        ref_bar.close()
        generated = generate_for_fid(model, args.fid_n)
        bar = progress_bar(len(generated), "FID features", "img")
        result.update(fid_kid(generated, ref, device=device,
                              progress=lambda d, t: (setattr(bar, "n", d), bar.refresh())))
        bar.close()
        result["fid_n"] = args.fid_n
    if args.precision_recall:
        result.update(_precision_recall(model, args))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


def _precision_recall(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from ..core.quality.memorisation import memorisation_report

    clouds = out_file(args.clouds_out, (".npz",)) if args.clouds_out else None
    bar = progress_bar(4, "memorisation report", "stage")

    def on_progress(value: tuple) -> None:
        stage, done, total = value
        bar.set_description(stage)

    report = memorisation_report(model, args.data, n_generated=args.pr_n, n_real=args.pr_n, k=args.pr_k,
                                 progress=on_progress)
    bar.close()
    if clouds is not None:
        np.savez_compressed(clouds, xy=report.map_xy, generated=report.map_generated, space=report.map_space)
    return {f"pr_{k}" if k in ("k",) else k: v for k, v in report.as_dict().items()}
