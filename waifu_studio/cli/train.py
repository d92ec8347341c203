"""``waifu-studio train``: train a model headless, or resume a run."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from ..core.config import FAMILIES, KL_SCHEDULES, RESOLUTIONS, SPLITS, DataConfig, ModelConfig, RunConfig, TrainConfig
from .common import (
    CliError,
    check_run_dir,
    nonneg_int,
    positive_int,
    progress_bar,
)


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a model (headless)")
    t.add_argument("--model", choices=FAMILIES, help="model family")
    t.add_argument("--data", help="folder of face images, or 'builtin' for the built-in demo faces")
    t.add_argument("--out", help="run folder to create (config, metrics, samples, checkpoint)")
    t.add_argument("--epochs", type=positive_int)
    t.add_argument("--batch-size", type=positive_int)
    t.add_argument("--resolution", type=int, choices=RESOLUTIONS, default=None)
    t.add_argument("--latent-dim", type=positive_int)
    t.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    t.add_argument("--max-steps", type=nonneg_int, help="stop after this many steps (0: no limit)")
    t.add_argument("--max-minutes", type=float, help="stop (with a checkpoint) after this much wall time")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped or crashed run from its last checkpoint")
    g = t.add_argument_group("architecture and optimisation")
    g.add_argument("--width", type=positive_int, help="channels of the highest-resolution conv block (default 64)")
    g.add_argument("--extra-convs", type=nonneg_int, help="extra 3x3 convs per resolution (capacity)")
    g.add_argument("--lr", type=float, help="generator / autoencoder learning rate")
    g.add_argument("--lr-d", type=float, help="discriminator / critic learning rate")
    g.add_argument("--lr-decay", choices=("none", "cosine"), help="learning-rate schedule (default none)")
    g.add_argument("--kl-beta", type=float, help="vae: weight of the KL term")
    g.add_argument("--kl-schedule", choices=KL_SCHEDULES, help="vae: KL annealing (default linear)")
    g.add_argument("--kl-warmup", type=nonneg_int, help="vae: warm-up steps of the linear schedule")
    g.add_argument("--kl-cycle", type=positive_int, help="vae: steps per cycle of the cyclical schedule")
    g.add_argument("--real-label", type=float, help="dcgan: target for real images (default 0.9)")
    g.add_argument("--fake-label", type=float, help="dcgan: target for generated images (default 0.0)")
    g.add_argument("--d-norm", choices=("batch", "spectral"),
                   help="dcgan: discriminator normalisation (default batch; spectral is steadier)")
    g.add_argument("--augment", metavar="POLICY",
                   help="gans: differentiable augmentation of what D sees, e.g. color,translation,cutout "
                        "(default none; helps on small sets and long runs)")
    g.add_argument("--betas", type=float, nargs=2, metavar=("B1", "B2"), help="Adam betas (family default)")
    g.add_argument("--n-critic", type=positive_int, help="wgan-gp: critic steps per generator step (default 5)")
    g.add_argument("--gp-weight", type=float, help="wgan-gp: gradient penalty weight (default 10)")
    g.add_argument("--ema", type=float, help="gans: EMA decay of generator weights (0 disables; default 0.999)")
    g.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="auto: bf16 where the hardware has it")
    g.add_argument("--no-channels-last", action="store_true", help="keep NCHW memory format")
    g.add_argument("--no-hflip", action="store_true", help="no random horizontal flips")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the conv stacks (experimental: failed on an H100 with channels_last)")
    g.add_argument("--seed", type=nonneg_int, help="seed of initialisation and data order")
    g.add_argument("--split", choices=SPLITS, help="train on all faces, or the train/val part of the fixed split")
    g.add_argument("--builtin-count", type=positive_int, help="how many built-in faces to draw (default 2048)")
    g.add_argument("--sample-every", type=positive_int, help="steps between fixed-seed sample grids")
    g.add_argument("--log-every", type=positive_int, help="steps between metric rows")
    g.add_argument("--checkpoint-every", type=nonneg_int, help="steps between checkpoints (besides epoch ends)")
    g.add_argument("--epoch-checkpoint-minutes", type=float,
                   help="skip epoch-end checkpoints younger than this (default 0: every epoch)")
    g.add_argument("--snapshot-fraction", type=float,
                   help="timeline: fp16 snapshot every this share of the planned steps (default 0.05; 0: off)")
    g.add_argument("--snapshot-minutes", type=float, help="timeline: and at least every this many minutes (default 10)")
    g.add_argument("--max-snapshots", type=int, help="timeline: keep at most this many, thinned evenly (default 40)")
    t.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core.training import read_run_config

    if args.resume:
        run_dir = Path(args.resume)
        run_config = read_run_config(run_dir)
        overrides = {k: v for k, v in {"epochs": args.epochs, "max_steps": args.max_steps, "device": args.device,
                                       "max_minutes": args.max_minutes}.items()
                     if v is not None}
        if overrides:
            run_config = RunConfig(run_config.model, run_config.train.replace(**overrides), run_config.data)
    else:
        missing = [flag for flag, value in (("--model", args.model), ("--data", args.data), ("--out", args.out))
                   if not value]
        if missing:
            raise CliError(f"train needs {', '.join(missing)} (or --resume RUN_DIR)")
        if args.data != "builtin" and not Path(args.data).is_dir():
            raise CliError(f"data folder not found: {args.data}")
        run_dir = Path(args.out)
        check_run_dir(run_dir)  # before minutes of data loading
        resolution = args.resolution or 64
        model_kwargs = {"family": args.model, "resolution": resolution}
        for key, value in (("latent_dim", args.latent_dim), ("width", args.width), ("extra_convs", args.extra_convs)):
            if value is not None:
                model_kwargs[key] = value
        train = TrainConfig.for_family(
            args.model, epochs=args.epochs, batch_size=args.batch_size, max_steps=args.max_steps,
            max_minutes=args.max_minutes, lr=args.lr, lr_decay=args.lr_decay,
            lr_d=args.lr_d, kl_beta=args.kl_beta, kl_schedule=args.kl_schedule, kl_warmup_steps=args.kl_warmup,
            kl_cycle_steps=args.kl_cycle, real_label=args.real_label, fake_label=args.fake_label,
            n_critic=args.n_critic, gp_weight=args.gp_weight, ema_decay=args.ema, precision=args.precision,
            d_norm=args.d_norm, augment=args.augment, betas=tuple(args.betas) if args.betas else None,
            epoch_checkpoint_minutes=args.epoch_checkpoint_minutes, snapshot_fraction=args.snapshot_fraction,
            snapshot_minutes=args.snapshot_minutes, max_snapshots=args.max_snapshots,
            channels_last=False if args.no_channels_last else None, hflip=False if args.no_hflip else None,
            compile=True if args.compile else None, seed=args.seed, sample_every=args.sample_every,
            log_every=args.log_every, checkpoint_every=args.checkpoint_every, device=args.device)
        data = DataConfig(source="builtin" if args.data == "builtin" else str(Path(args.data).resolve()),
                          resolution=resolution, split=args.split or "all",
                          builtin_count=args.builtin_count or DataConfig.builtin_count)
        run_config = RunConfig(ModelConfig(**model_kwargs), train, data)

    from ..core.devices import select_device
    from ..core.training import distributed

    # A bad --device fails before data loading. Under torchrun (WORLD_SIZE > 1) this process joins
    # the group: every rank loads the same faces and trains its slice; rank 0 alone writes and reports.
    distributed.init_from_env(select_device(run_config.train.device))
    try:
        code = _train(args, run_config, run_dir, quiet=not distributed.is_main_process())
        # Rank 0 finishes later than the others (it writes and reports); wait for it before any
        # rank tears down its connections, so no rank's teardown meets a peer that is still in
        # the middle of its own. Only on success: after a failure a peer may never arrive.
        distributed.barrier()
        return code
    finally:
        distributed.cleanup()


def _train(args: argparse.Namespace, run_config: RunConfig, run_dir: Path, *, quiet: bool) -> int:
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

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        trainer = Trainer(run_config, dataset.images, run_dir, hooks, resume=bool(args.resume))
        result = trainer.run()
    finally:
        bar.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not quiet:
        state = "stopped" if result.stopped else "finished"
        print(f"{state} at step {result.steps} in {result.elapsed_seconds:.0f} s; checkpoint: {result.checkpoint}")
    return 0
