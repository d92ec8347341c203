"""``waifu-studio reconstruct``: faces beside an AE / VAE's reconstructions, with PSNR."""

from __future__ import annotations

import argparse

from .common import load_model, out_file, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("reconstruct", help="real faces beside their reconstructions (AE/VAE), with PSNR")
    r.add_argument("--checkpoint", required=True)
    r.add_argument("--data", default="builtin", help="a folder of face images, or 'builtin'")
    r.add_argument("--count", type=positive_int, default=64, help="faces to reconstruct")
    r.add_argument("--out", required=True, help="FILE.png: pairs (real | reconstruction) labelled with PSNR")
    r.add_argument("--device", default="cpu")
    r.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core.io.export import save_image
    from ..core.quality.reconstructions import reconstruct_faces

    out = out_file(args.out, (".png",))
    model = load_model(args.checkpoint, args.device)
    result = reconstruct_faces(model, None if args.data == "builtin" else args.data, args.count)
    save_image(result.grid, out)
    print(f"wrote {out}: {result.description}, PSNR {result.metrics['psnr']:.2f} dB "
          f"(per face: mean {result.metrics['psnr_per_image_mean']:.2f}, worst {result.psnrs.min():.1f})")
    return 0
