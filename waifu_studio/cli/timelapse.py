"""``waifu-studio timelapse``: a run's sample grids as an animated GIF."""

from __future__ import annotations

import argparse

from .common import out_file, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("timelapse", help="a run folder's sample grids as an animated GIF")
    t.add_argument("run_dir", metavar="RUN")
    t.add_argument("--out", required=True, help="FILE.gif")
    t.add_argument("--duration", type=positive_int, default=150, help="milliseconds per frame")
    t.add_argument("--max-frames", type=positive_int, default=200, help="evenly thinned to at most this many")
    t.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core.training.run_folder import write_timelapse

    out = out_file(args.out, (".gif",))
    write_timelapse(args.run_dir, out, args.duration, args.max_frames)
    print(f"wrote {out}")
    return 0
