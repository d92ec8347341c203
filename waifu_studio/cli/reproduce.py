"""``waifu-studio reproduce``: re-render a file from the recipe it carries, with the checkpoint it names."""

from __future__ import annotations

import argparse

from .common import CliError, load_model, out_file


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("reproduce", help="re-render a PNG or GIF from the recipe it carries (identical pixels)")
    r.add_argument("file", nargs="?", metavar="FILE.png|FILE.gif", help="a file written by Waifu Studio")
    r.add_argument("--recipe", help="the recipe as JSON text instead of a file (what 'Copy as command' writes)")
    r.add_argument("--out", required=True, help="FILE.png or FILE.gif (the kind the recipe makes)")
    r.add_argument("--checkpoint", action="append", default=[], metavar="CKPT",
                   help="checkpoint file or run folder to use (repeatable); otherwise the bundled folder "
                        "and every checkpoint this machine has loaded are searched by SHA-256")
    r.add_argument("--device", default="cpu")
    r.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core.explore.reproduce import locate_checkpoints, output_suffix, write_recipe_file
    from ..core.io.recipe import parse_recipe, read_recipe

    if (args.file is None) == (args.recipe is None):
        raise CliError("give either FILE or --recipe")
    recipe = read_recipe(args.file) if args.file else parse_recipe(args.recipe)
    out = out_file(args.out, (output_suffix(recipe),))
    paths = locate_checkpoints(recipe, args.checkpoint)
    models = [load_model(str(path), args.device) for path in paths]
    write_recipe_file(recipe, models, out)
    names = ", ".join(path.name for path in paths)
    print(f"wrote {out} from the recipe of {args.file or '--recipe'} ({names})")
    return 0
