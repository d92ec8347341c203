"""``waifu-studio generate``: a grid of faces for seeds S..S+N-1."""

from __future__ import annotations

import argparse

from .common import (
    load_model,
    nonneg_int,
    out_file,
    positive_int,
)


def register(sub: argparse._SubParsersAction) -> None:
    gen = sub.add_parser("generate", help="write a grid of faces for seeds S..S+N-1")
    gen.add_argument("--checkpoint", required=True)
    gen.add_argument("--seed", type=nonneg_int, required=True)
    gen.add_argument("--n", type=positive_int, default=1)
    gen.add_argument("--out", required=True, help="FILE.png")
    gen.add_argument("--truncation", type=float, default=1.0, help="< 1 trades variety for cleaner faces")
    gen.add_argument("--ncols", type=positive_int, default=None)
    gen.add_argument("--scale", type=positive_int, default=1, help="integer upscale of each face")
    gen.add_argument("--labels", action="store_true", help="print each face's seed under it")
    gen.add_argument("--device", default="cpu")
    gen.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core.io.export import save_grid

    out = out_file(args.out, (".png",))
    model = load_model(args.checkpoint, args.device)
    faces = model.sample(args.n, seed=args.seed, truncation=args.truncation)
    labels = [str(args.seed + i) for i in range(args.n)] if args.labels else None
    save_grid(faces, out, args.ncols, labels=labels, scale=args.scale)
    print(f"wrote {out} ({args.n} face{'s' if args.n != 1 else ''}, seeds {args.seed}..{args.seed + args.n - 1})")
    return 0
