"""``waifu-studio train``: train a model headless, or resume a run.

Every setting flag is generated from the declarations in ``core/config.py`` (type, bounds,
choices, help), so a bad value is a one-line argparse error (status 2) before anything runs, and
``--resume`` applies exactly the flags a resumed run may change (``core/training/resume.py``).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.config import SETTING_GROUPS, SETTINGS, DataConfig, ModelConfig, RunConfig, TrainConfig
from ..core.errors import WaifuError
from ..core.settings import Setting, show
from .common import CliError, check_run_dir, progress_bar

if TYPE_CHECKING:
    from ..core.training.run_lock import RunFolderLock


def cli_settings() -> tuple[Setting, ...]:
    """The declared settings that are ``train`` options (all but derived ones like data.resolution)."""
    return tuple(s for s in SETTINGS if s.cli_flag is not None)


def _value_type(decl: Setting) -> Callable[[str], Any]:
    """argparse type: text -> value, checked against the declaration (one-line messages)."""
    kind = float if decl.kind is tuple else decl.kind

    def parse(text: str) -> Any:
        if kind is int:
            try:
                value: Any = int(text)
            except ValueError:  # "2.5", "0x40", or past Python's digit limit
                raise argparse.ArgumentTypeError(f"expected a whole number, got {show(text)}") from None
        elif kind is float:
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"invalid float value: {show(text)}") from None
        else:
            value = text
        # Choices are argparse's to check (its "invalid choice" lists them); the rest is the declaration's.
        if decl.kind is tuple:
            trouble = decl.item_problem(value)
        elif decl.choices is not None:
            trouble = None
        else:
            trouble = decl.problem(value)
        if trouble:
            raise argparse.ArgumentTypeError(trouble)
        return value

    parse.__name__ = kind.__name__
    return parse


def add_setting_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per declared setting, grouped as the app's form groups them; every default None (not given)."""
    settings = cli_settings()
    for group_name in SETTING_GROUPS:
        group = parser.add_argument_group(group_name.lower())
        for decl in (s for s in settings if s.group == group_name):
            kwargs: dict[str, Any] = {"dest": decl.name, "default": None, "help": decl.help}
            if decl.kind is bool:
                kwargs["action"] = argparse.BooleanOptionalAction  # --hflip / --no-hflip
            else:
                kwargs["type"] = _value_type(decl)
                kwargs["metavar"] = decl.metavar or {int: "N", float: "X"}.get(decl.kind, "TEXT")
                if decl.choices is not None:
                    kwargs.update(choices=decl.choices, metavar=None)
                if decl.kind is tuple:
                    kwargs["nargs"] = decl.length
                if decl.range_text():
                    kwargs["help"] += f" [{decl.range_text()}]"
            group.add_argument(decl.cli_flag, **kwargs)


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a model (headless)",
                       description="Train a model headless, or continue a run with --resume. Options not given "
                       "take the family's defaults; on --resume they keep the run's own values.")
    t.add_argument("--out", help="run folder to create (config, metrics, samples, checkpoint)")
    t.add_argument("--resume", metavar="RUN_DIR",
                   help="continue a stopped or crashed run from its last checkpoint; options that may change "
                        "(--epochs, --lr, --max-minutes, ...) apply, architecture and data options may not")
    add_setting_arguments(t)
    t.set_defaults(run=run)


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (name -> value), data folders made absolute."""
    given = {decl.name: decl.check(getattr(args, decl.name)) for decl in cli_settings()
             if getattr(args, decl.name) is not None}  # check: canonical values (argparse gives lists)
    if "source" in given and given["source"] != "builtin":
        if not Path(given["source"]).is_dir():
            raise CliError(f"data folder not found: {given['source']}")
        given["source"] = str(Path(given["source"]).resolve())
    return given


def new_run_config(given: dict[str, Any]) -> RunConfig:
    """The RunConfig of a new run: the given settings over the family's defaults."""
    values: dict[str, dict[str, Any]] = {"model": {}, "train": {}, "data": {}}
    for decl in cli_settings():
        if decl.name in given:
            values[decl.section][decl.name] = given[decl.name]
    model = ModelConfig(**values["model"])
    train = TrainConfig.for_family(model.family, **values["train"])
    data = DataConfig(resolution=model.resolution, **values["data"])
    return RunConfig(model, train, data)


def run(args: argparse.Namespace) -> int:
    from ..core.training import read_run_config, resumed_config
    from ..core.training.run_lock import RunFolderLock

    given = given_settings(args)
    if args.resume:
        run_dir = Path(args.resume)
        if args.out:
            raise CliError(f"--out is for a new run; --resume continues {run_dir} in its own folder")
        try:
            run_config = resumed_config(read_run_config(run_dir), given)
        except WaifuError as err:
            raise CliError(f"cannot resume {run_dir}: {err}") from None
    else:
        missing = [flag for flag, present in (("--model", "family" in given), ("--data", "source" in given),
                                              ("--out", bool(args.out))) if not present]
        if missing:
            raise CliError(f"train needs {', '.join(missing)} (or --resume RUN_DIR)")
        run_dir = Path(args.out)
        check_run_dir(run_dir)  # before minutes of data loading
        run_config = new_run_config(given)

    from ..core.devices import select_device
    from ..core.training import distributed

    # A bad --device fails before data loading. Under torchrun (WORLD_SIZE > 1) this process joins
    # the group: every rank loads the same faces and trains its slice; rank 0 alone writes and reports.
    distributed.init_from_env(select_device(run_config.train.device))
    # One writer per run folder, taken before minutes of data loading; under torchrun rank 0 writes.
    lock = RunFolderLock(run_dir)
    try:
        if distributed.is_main_process():
            lock.acquire(create=not args.resume)
        code = _train(args, run_config, run_dir, lock, quiet=not distributed.is_main_process())
        # Rank 0 finishes later than the others (it writes and reports); wait for it before any
        # rank tears down its connections, so no rank's teardown meets a peer that is still in
        # the middle of its own. Only on success: after a failure a peer may never arrive.
        distributed.barrier()
        return code
    finally:
        lock.release()
        distributed.cleanup()


def _train(args: argparse.Namespace, run_config: RunConfig, run_dir: Path, lock: RunFolderLock, *,
           quiet: bool) -> int:
    from ..core.data import load_dataset
    from ..core.training import Trainer, TrainingHooks

    load_bar = progress_bar(0, "loading faces", "img", disable=quiet)

    def on_load(done: int, total: int) -> None:
        load_bar.total = total
        load_bar.n = done
        load_bar.refresh()

    dataset = load_dataset(run_config.data, progress=on_load)
    load_bar.close()
    if not quiet:
        print(f"data: {dataset.summary()} ({run_config.data.source}, split {run_config.data.split})", file=sys.stderr)

    hooks = TrainingHooks()
    bar = progress_bar(0, f"training {run_config.model.family}", "step", disable=quiet)

    def on_metrics(m: Any) -> None:
        bar.total = m.total_steps
        bar.n = m.step
        shown = {k: f"{v:.4g}" for k, v in list(m.losses.items())[:4]}
        bar.set_postfix(epoch=f"{m.epoch + 1}/{m.epochs}", img_s=f"{m.images_per_sec:.0f}", **shown)

    if not quiet:
        hooks.on_metrics = on_metrics
        hooks.on_log = lambda msg: bar.write(msg, file=sys.stderr)

    def request_stop(signum: int, frame: Any) -> None:  # Ctrl-C / SIGTERM: checkpoint, then exit
        hooks.stop.set()

    try:
        # Built before the stop handler is installed: until training starts, Ctrl-C and SIGTERM
        # end the process as usual (a stalled read of the run folder can always be interrupted).
        trainer = Trainer(run_config, dataset.images, run_dir, hooks, resume=bool(args.resume), lock=lock)
        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            result = trainer.run()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    finally:
        bar.close()
    if not quiet:
        state = "stopped" if result.stopped else "finished"
        print(f"{state} at step {result.steps} in {result.elapsed_seconds:.0f} s; checkpoint: {result.checkpoint}")
    return 0
