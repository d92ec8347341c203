"""Headless command line: the same core calls the GUI makes, one module per command.

Bad arguments, missing files and bad checkpoints print one line and exit with status 2.
"""

from __future__ import annotations

import sys

from .. import __version__
from ..core.errors import WaifuError
from . import directions, embed, evaluate, fit_prior, generate, morph, reconstruct, reproduce, timelapse, train
from .common import EXIT_USAGE, CliError, Parser

COMMAND_MODULES = (train, generate, morph, embed, evaluate, reproduce, directions, reconstruct, timelapse, fit_prior)


def build_parser() -> Parser:
    parser = Parser(prog="waifu-studio", description="Train generative models of anime faces and explore them. "
                    "Run with no command to open the desktop app.")
    parser.add_argument("--version", action="version", version=f"waifu-studio {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        try:
            from ..ui.app import run_app
        except ImportError as err:  # the GUI is optional for headless servers
            print(f"waifu-studio: the desktop app is not available ({err}); see --help for the CLI", file=sys.stderr)
            parser.print_help()
            return EXIT_USAGE
        return run_app()
    try:
        return args.run(args)
    except (CliError, WaifuError) as err:
        print(f"waifu-studio {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"waifu-studio {args.command}: interrupted", file=sys.stderr)
        return 130
