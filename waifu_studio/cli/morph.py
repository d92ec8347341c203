"""``waifu-studio morph``: a strip or GIF between two faces (seeds or image files)."""

from __future__ import annotations

import argparse

from .common import (
    CliError,
    load_model,
    out_file,
    parse_endpoint,
    positive_int,
)


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("morph", help="morph between two faces (seeds or image files)")
    m.add_argument("--checkpoint", required=True)
    m.add_argument("--from", dest="source", required=True, metavar="SEED|IMAGE")
    m.add_argument("--to", dest="target", required=True, metavar="SEED|IMAGE")
    m.add_argument("--steps", type=positive_int, default=8, help="frames including both ends (>= 2)")
    m.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation")
    m.add_argument("--out", required=True, help="FILE.png (strip) or FILE.gif (animation)")
    m.add_argument("--scale", type=positive_int, default=1)
    m.add_argument("--duration", type=positive_int, default=80, help="gif: milliseconds per frame")
    m.add_argument("--device", default="cpu")
    m.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core.explore.latent import morph_latents
    from ..core.io.export import morph_strip, save_gif, save_image

    out = out_file(args.out, (".png", ".gif"))
    if args.steps < 2:
        raise CliError("--steps must be at least 2")
    model = load_model(args.checkpoint, args.device)
    a, b = parse_endpoint(model, args.source), parse_endpoint(model, args.target)
    latents = morph_latents(a, b, args.steps, spherical=args.slerp, center=model.latent_mean)
    frames = model.decode(latents)
    if out.suffix.lower() == ".gif":
        save_gif(frames, out, duration_ms=args.duration, scale=args.scale)
    else:
        save_image(morph_strip(frames, scale=args.scale), out)
    print(f"wrote {out} ({args.steps} frames, {'slerp' if args.slerp else 'lerp'})")
    return 0
