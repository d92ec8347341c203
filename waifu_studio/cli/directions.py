"""``waifu-studio directions``: a face swept along the model's principal directions (GANSpace idea)."""

from __future__ import annotations

import argparse

from .common import load_model, nonneg_int, out_file, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("directions", help="a face swept from -3 to +3 std along each principal direction")
    d.add_argument("--checkpoint", required=True)
    d.add_argument("--seed", type=nonneg_int, default=0, help="the face to sweep")
    d.add_argument("--count", type=positive_int, default=5, help="directions shown (rows)")
    d.add_argument("--out", required=True, help="FILE.png: one row per direction, 7 faces each")
    d.add_argument("--device", default="cpu")
    d.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core.explore.directions import SWEEP, compute_axes, direction_sweeps
    from ..core.io.export import save_grid

    out = out_file(args.out, (".png",))
    model = load_model(args.checkpoint, args.device)
    axes = compute_axes(model, k=args.count)
    rows = direction_sweeps(model, model.seeds_to_latents([args.seed])[0], axes)
    save_grid(rows.reshape(-1, *rows.shape[2:]), out, ncols=len(SWEEP))
    print(f"wrote {out} ({len(rows)} directions x {len(SWEEP)} faces; they carry "
          f"{100 * axes.explained:.0f}% of the variation between faces)")
    return 0
