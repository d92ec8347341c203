"""``waifu-studio generate``: a grid of faces for seeds S..S+N-1, or one PNG per face in a folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import (
    CliError,
    float_between,
    int_at_least,
    load_model,
    out_file,
    positive_int,
    seed_int,
)

# A grid is bounded by core.io.export.MAX_EXPORT_PIXELS (~14,000 faces at 64 px); a folder by
# this count: 100,000 64-px PNGs are about 1 GB, and the faces are decoded and written in
# batches, so memory stays that of one batch however many are asked for.
MAX_FOLDER_FACES = 100_000
BATCH = 256


def register(sub: argparse._SubParsersAction) -> None:
    gen = sub.add_parser("generate", help="write a grid of faces for seeds S..S+N-1 (or a folder of PNGs)")
    gen.add_argument("--checkpoint", required=True)
    gen.add_argument("--seed", type=seed_int, required=True)
    gen.add_argument("--n", type=int_at_least(1, MAX_FOLDER_FACES), default=1)
    gen.add_argument("--out", required=True,
                     help="FILE.png for one grid, or a folder (existing, or ending in /) for one PNG per face")
    gen.add_argument("--truncation", type=float_between(0.0, 2.0), default=1.0,
                     help="0 to 2; < 1 trades variety for cleaner faces")
    gen.add_argument("--ncols", type=positive_int, default=None)
    gen.add_argument("--scale", type=int_at_least(1, 64), default=1, help="integer upscale of each face (1-64)")
    gen.add_argument("--labels", action="store_true", help="print each face's seed under it")
    gen.add_argument("--device", default="cpu")
    gen.set_defaults(run=run)


def _out_folder(text: str) -> Path | None:
    """The folder ``--out`` names (created if its parent exists), or None for a file name."""
    folder = Path(text)
    if not (folder.is_dir() or text.endswith(("/", "\\"))):
        return None
    if not folder.parent.is_dir():
        raise CliError(f"cannot write to {folder}: folder {folder.parent} does not exist")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as err:
        raise CliError(f"cannot create {folder}: {err.strerror or err}") from None
    return folder


def run(args: argparse.Namespace) -> int:
    from ..core.errors import WaifuError
    from ..core.explore.reproduce import (
        image_recipe,
        layout_part,
        model_ref,
        recipe_latents,
        seeds_part,
        write_recipe_file,
    )
    from ..core.io.export import check_export_size, default_label_height, grid_shape, grid_size, make_grid, save_png
    from ..core.models.seeds import MAX_SEED

    last = args.seed + args.n - 1
    if last > MAX_SEED:
        raise CliError(f"seeds {args.seed}..{last} go past the largest seed, {MAX_SEED}")
    folder = _out_folder(args.out)
    out = None if folder is not None else out_file(args.out, (".png",))
    model = load_model(args.checkpoint, args.device)
    side = model.resolution
    if folder is not None:  # streamed: one batch of faces in memory at a time, each file with its recipe
        check_export_size(side * args.scale, side * args.scale, "face")
        layout = layout_part(1, padding=0, scale=args.scale)
        for start in range(args.seed, last + 1, BATCH):
            batch = range(start, min(start + BATCH, last + 1))
            faces = model.decode_exact(recipe_latents(model, seeds_part(batch, args.truncation)))
            for seed, face in zip(batch, faces, strict=True):
                recipe = image_recipe([model_ref(model)], seeds_part([seed], args.truncation), layout)
                save_png(make_grid(face[None], 1, padding=0, scale=args.scale), folder / f"seed_{seed:010d}.png",
                         recipe=recipe)
        print(f"wrote {args.n} face{'s' if args.n != 1 else ''} to {folder} (seeds {args.seed}..{last})")
        return 0
    seeds = range(args.seed, last + 1)
    labels = [str(s) for s in seeds] if args.labels else None
    label_h = default_label_height(side, args.scale) if args.labels else 0
    # Checked before any face is decoded: a grid past the limit is refused at once, not after minutes.
    try:
        check_export_size(*grid_size(args.n, side, side, args.ncols, scale=args.scale, label_height=label_h), "grid")
    except WaifuError as err:
        raise CliError(f"{err}, or write one PNG per face with --out DIR/") from None
    layout = layout_part(grid_shape(args.n, args.ncols)[1], scale=args.scale, labels=labels)
    recipe = image_recipe([model_ref(model)], seeds_part(seeds, args.truncation), layout)
    write_recipe_file(recipe, [model], out)
    print(f"wrote {out} ({args.n} face{'s' if args.n != 1 else ''}, seeds {args.seed}..{last})")
    return 0
