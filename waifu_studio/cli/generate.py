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
    from ..core.explore.reproduce import image_recipe, layout_part, model_ref, seeds_part, write_recipe_file
    from ..core.io.export import grid_shape

    out = out_file(args.out, (".png",))
    model = load_model(args.checkpoint, args.device)
    seeds = range(args.seed, args.seed + args.n)
    labels = [str(s) for s in seeds] if args.labels else None
    layout = layout_part(grid_shape(args.n, args.ncols)[1], scale=args.scale, labels=labels)
    recipe = image_recipe([model_ref(model)], seeds_part(seeds, args.truncation), layout)
    write_recipe_file(recipe, [model], out)
    print(f"wrote {out} ({args.n} face{'s' if args.n != 1 else ''}, seeds {args.seed}..{args.seed + args.n - 1})")
    return 0
