"""``waifu-studio morph``: a strip or GIF between two faces (seeds or image files)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import (
    CliError,
    int_at_least,
    load_model,
    out_file,
    parse_endpoint,
    positive_int,
)

# A strip of 1,000 64-px frames is 66,000 px wide, near what viewers open; the app offers 3-32.
MAX_STEPS = 1000


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("morph", help="morph between two faces (seeds or image files)")
    m.add_argument("--checkpoint", required=True)
    m.add_argument("--from", dest="source", required=True, metavar="SEED|IMAGE")
    m.add_argument("--to", dest="target", required=True, metavar="SEED|IMAGE")
    m.add_argument("--steps", type=int_at_least(2, MAX_STEPS), default=8,
                   help=f"frames including both ends (2-{MAX_STEPS})")
    m.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation")
    m.add_argument("--out", required=True, help="FILE.png (strip) or FILE.gif (animation)")
    m.add_argument("--scale", type=int_at_least(1, 64), default=1, help="integer upscale of each frame (1-64)")
    m.add_argument("--duration", type=positive_int, default=80,
                   help="gif: milliseconds per frame (10 to 655350, what a GIF can store)")
    m.add_argument("--device", default="cpu")
    m.set_defaults(run=run)


def _endpoint(model, text: str) -> dict:  # noqa: ANN001 - a FaceModel
    """A seed stays a seed in the recipe; an image file becomes its latent (encoded or inverted)."""
    from ..core.explore.reproduce import endpoint_part

    if text.strip().isdigit():
        return endpoint_part(seed=int(text))
    return endpoint_part(latent=parse_endpoint(model, text), label=Path(text).name)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..core.explore.reproduce import gif_recipe, image_recipe, layout_part, model_ref, morph_part, write_recipe_file
    from ..core.io.export import MAX_GIF_FRAME_MS, check_export_size, grid_size

    out = out_file(args.out, (".png", ".gif"))
    if not 10 <= args.duration <= MAX_GIF_FRAME_MS:
        raise CliError(f"--duration must be from 10 to {MAX_GIF_FRAME_MS:,} ms, not {args.duration:,}")
    model = load_model(args.checkpoint, args.device)
    side = model.resolution
    # Checked before the endpoints are encoded (an inversion takes a while): the strip, or all GIF frames.
    check_export_size(*grid_size(args.steps, side, side, args.steps, scale=args.scale), "morph strip")
    faces = morph_part(_endpoint(model, args.source), _endpoint(model, args.target),
                       np.linspace(0.0, 1.0, args.steps), spherical=args.slerp)
    refs = [model_ref(model)]
    if out.suffix.lower() == ".gif":
        recipe = gif_recipe(refs, faces, duration_ms=args.duration, scale=args.scale)
    else:
        recipe = image_recipe(refs, faces, layout_part(args.steps, scale=args.scale))
    write_recipe_file(recipe, [model], out)
    print(f"wrote {out} ({args.steps} frames, {'slerp' if args.slerp else 'lerp'})")
    return 0
