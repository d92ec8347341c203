"""Headless command line: the same core calls the GUI makes.

Bad arguments, missing files and bad checkpoints print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .core.config import FAMILIES, KL_SCHEDULES, RESOLUTIONS, SPLITS, DataConfig, ModelConfig, RunConfig, TrainConfig
from .core.errors import WaifuError

EXIT_USAGE = 2


class CliError(Exception):
    """A one-line error for the user."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + error
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _int_at_least(minimum: int):  # noqa: ANN202 - an argparse type callable
    """argparse type: a whole number >= ``minimum``, with a one-line message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_nonneg_int = _int_at_least(0)


def _out_file(path: str, suffixes: tuple[str, ...]) -> Path:
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise CliError(f"--out must end in {' or '.join(suffixes)}: {path}")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise CliError(f"cannot write {out}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CliError(f"cannot write {out}: folder {folder} is not writable")
    return out


def _check_run_dir(run_dir: Path) -> None:
    """The run folder can be created: its nearest existing ancestor is a writable folder."""
    ancestor = run_dir.absolute()
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if run_dir.exists() and not run_dir.is_dir():
        raise CliError(f"cannot create run folder {run_dir}: it is a file")
    if not ancestor.is_dir():
        raise CliError(f"cannot create run folder {run_dir}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise CliError(f"cannot create run folder {run_dir}: folder {ancestor} is not writable")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="waifu-studio", description="Train generative models of anime faces and explore them. "
                     "Run with no command to open the desktop app.")
    parser.add_argument("--version", action="version", version=f"waifu-studio {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    t = sub.add_parser("train", help="train a model (headless)")
    t.add_argument("--model", choices=FAMILIES, help="model family")
    t.add_argument("--data", help="folder of face images, or 'builtin' for the built-in demo faces")
    t.add_argument("--out", help="run folder to create (config, metrics, samples, checkpoint)")
    t.add_argument("--epochs", type=_positive_int)
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument("--resolution", type=int, choices=RESOLUTIONS, default=None)
    t.add_argument("--latent-dim", type=_positive_int)
    t.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    t.add_argument("--max-steps", type=_nonneg_int, help="stop after this many steps (0: no limit)")
    t.add_argument("--max-minutes", type=float, help="stop (with a checkpoint) after this much wall time")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped or crashed run from its last checkpoint")
    g = t.add_argument_group("architecture and optimisation")
    g.add_argument("--width", type=_positive_int, help="channels of the highest-resolution conv block (default 64)")
    g.add_argument("--extra-convs", type=_nonneg_int, help="extra 3x3 convs per resolution (capacity)")
    g.add_argument("--lr", type=float, help="generator / autoencoder learning rate")
    g.add_argument("--lr-d", type=float, help="discriminator / critic learning rate")
    g.add_argument("--lr-decay", choices=("none", "cosine"), help="learning-rate schedule (default none)")
    g.add_argument("--kl-beta", type=float, help="vae: weight of the KL term")
    g.add_argument("--kl-schedule", choices=KL_SCHEDULES, help="vae: KL annealing (default linear)")
    g.add_argument("--kl-warmup", type=_nonneg_int, help="vae: warm-up steps of the linear schedule")
    g.add_argument("--kl-cycle", type=_positive_int, help="vae: steps per cycle of the cyclical schedule")
    g.add_argument("--real-label", type=float, help="dcgan: target for real images (default 0.9)")
    g.add_argument("--fake-label", type=float, help="dcgan: target for generated images (default 0.0)")
    g.add_argument("--d-norm", choices=("batch", "spectral"),
                   help="dcgan: discriminator normalisation (default batch; spectral is steadier)")
    g.add_argument("--augment", metavar="POLICY",
                   help="gans: differentiable augmentation of what D sees, e.g. color,translation,cutout "
                        "(default none; helps on small sets and long runs)")
    g.add_argument("--betas", type=float, nargs=2, metavar=("B1", "B2"), help="Adam betas (family default)")
    g.add_argument("--n-critic", type=_positive_int, help="wgan-gp: critic steps per generator step (default 5)")
    g.add_argument("--gp-weight", type=float, help="wgan-gp: gradient penalty weight (default 10)")
    g.add_argument("--ema", type=float, help="gans: EMA decay of generator weights (0 disables; default 0.999)")
    g.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="auto: bf16 where the hardware has it")
    g.add_argument("--no-channels-last", action="store_true", help="keep NCHW memory format")
    g.add_argument("--no-hflip", action="store_true", help="no random horizontal flips")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the conv stacks (experimental: failed on an H100 with channels_last)")
    g.add_argument("--seed", type=_nonneg_int, help="seed of initialisation and data order")
    g.add_argument("--split", choices=SPLITS, help="train on all faces, or the train/val part of the fixed split")
    g.add_argument("--builtin-count", type=_positive_int, help="how many built-in faces to draw (default 2048)")
    g.add_argument("--sample-every", type=_positive_int, help="steps between fixed-seed sample grids")
    g.add_argument("--log-every", type=_positive_int, help="steps between metric rows")
    g.add_argument("--checkpoint-every", type=_nonneg_int, help="steps between checkpoints (besides epoch ends)")
    g.add_argument("--epoch-checkpoint-minutes", type=float,
                   help="skip epoch-end checkpoints younger than this (default 0: every epoch)")

    gen = sub.add_parser("generate", help="write a grid of faces for seeds S..S+N-1")
    gen.add_argument("--checkpoint", required=True)
    gen.add_argument("--seed", type=_nonneg_int, required=True)
    gen.add_argument("--n", type=_positive_int, default=1)
    gen.add_argument("--out", required=True, help="FILE.png")
    gen.add_argument("--truncation", type=float, default=1.0, help="< 1 trades variety for cleaner faces")
    gen.add_argument("--ncols", type=_positive_int, default=None)
    gen.add_argument("--scale", type=_positive_int, default=1, help="integer upscale of each face")
    gen.add_argument("--labels", action="store_true", help="print each face's seed under it")
    gen.add_argument("--device", default="cpu")

    m = sub.add_parser("morph", help="morph between two faces (seeds or image files)")
    m.add_argument("--checkpoint", required=True)
    m.add_argument("--from", dest="source", required=True, metavar="SEED|IMAGE")
    m.add_argument("--to", dest="target", required=True, metavar="SEED|IMAGE")
    m.add_argument("--steps", type=_positive_int, default=8, help="frames including both ends (>= 2)")
    m.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation")
    m.add_argument("--out", required=True, help="FILE.png (strip) or FILE.gif (animation)")
    m.add_argument("--scale", type=_positive_int, default=1)
    m.add_argument("--duration", type=_positive_int, default=80, help="gif: milliseconds per frame")
    m.add_argument("--device", default="cpu")

    e = sub.add_parser("embed", help="2-D map of latent codes (PCA, t-SNE, UMAP)")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", required=True, help="folder of faces (ae/vae), or 'prior' for model samples")
    e.add_argument("--method", choices=("pca", "tsne", "umap"), required=True)
    e.add_argument("--out", required=True, help="FILE.npz with xy, latents and labels")
    e.add_argument("--png", help="also draw the map with faces as FILE.png")
    e.add_argument("--n", type=_positive_int, default=5000, help="prior: number of samples (seeds 0..n-1)")
    e.add_argument("--perplexity", type=float, default=30.0)
    e.add_argument("--neighbors", type=_positive_int, default=15)
    e.add_argument("--min-dist", type=float, default=0.1)
    e.add_argument("--device", default="cpu")

    ev = sub.add_parser("eval", help="quality figures: reconstruction MSE/PSNR, FID/KID")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--data", required=True, help="folder of real faces")
    ev.add_argument("--split", choices=SPLITS, default="all", help="faces to reconstruct (default all)")
    ev.add_argument("--fid", action="store_true", help="FID/KID of --fid-n generated faces against all of --data")
    ev.add_argument("--fid-n", type=_positive_int, default=5000, help="generated faces for FID (seeds 0..n-1)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--device", default="auto")
    return parser


# --------------------------------------------------------------------- helpers
def _progress(total: int, desc: str, unit: str = "it", disable: bool = False) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                disable=disable or (not sys.stderr.isatty() and os.environ.get("WAIFU_STUDIO_PROGRESS") != "1"))


def _load_model(path: str, device: str = "cpu") -> Any:
    from .core.checkpoint import load_checkpoint
    from .core.devices import select_device

    model = load_checkpoint(path, device=select_device(device))
    # Files the CLI writes (grids, strips, eval figures) are decoded in fp32: identical pixels on
    # every machine. The app decodes interactively in bf16 where the CPU has it natively (within
    # a few uint8 levels of fp32, several times faster); see core/models/inference.py.
    model.decode_precision = "fp32"
    return model


def _parse_endpoint(model: Any, text: str) -> Any:
    """A seed (integer) or an image file -> latent (encoded for ae/vae, inverted for GANs)."""
    from .core.data import load_image_file
    from .core.latent import invert_image

    if text.strip().isdigit():
        return model.seeds_to_latents([int(text)])[0]
    if not Path(text).exists():
        raise CliError(f"{text!r} is neither a seed nor an existing image file")
    image = load_image_file(text, model.resolution)
    if model.has_encoder:
        return model.encode(image[None])[0]
    bar = _progress(300, f"inverting {Path(text).name}", "step")
    def on_step(step: int, total: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(mse=f"{loss:.4f}")

    z = invert_image(model, image, steps=300, progress=on_step)
    bar.close()
    return z


# -------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> int:
    from .core.training import read_run_config

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
        _check_run_dir(run_dir)  # before minutes of data loading
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
            epoch_checkpoint_minutes=args.epoch_checkpoint_minutes,
            channels_last=False if args.no_channels_last else None, hflip=False if args.no_hflip else None,
            compile=True if args.compile else None, seed=args.seed, sample_every=args.sample_every,
            log_every=args.log_every, checkpoint_every=args.checkpoint_every, device=args.device)
        data = DataConfig(source="builtin" if args.data == "builtin" else str(Path(args.data).resolve()),
                          resolution=resolution, split=args.split or "all",
                          builtin_count=args.builtin_count or DataConfig.builtin_count)
        run_config = RunConfig(ModelConfig(**model_kwargs), train, data)

    from .core import distributed
    from .core.devices import select_device

    # A bad --device fails before data loading. Under torchrun (WORLD_SIZE > 1) this process joins
    # the group: every rank loads the same faces and trains its slice; rank 0 alone writes and reports.
    distributed.init_from_env(select_device(run_config.train.device))
    try:
        return _train(args, run_config, run_dir, quiet=not distributed.is_main_process())
    finally:
        distributed.cleanup()


def _train(args: argparse.Namespace, run_config: RunConfig, run_dir: Path, *, quiet: bool) -> int:
    from .core.data import load_dataset
    from .core.training import Trainer, TrainingHooks

    load_bar = _progress(0, "loading faces", "img", disable=quiet)

    def on_load(done: int, total: int) -> None:
        load_bar.total = total
        load_bar.n = done
        load_bar.refresh()

    dataset = load_dataset(run_config.data, progress=on_load)
    load_bar.close()
    if not quiet:
        print(f"data: {dataset.summary()} ({run_config.data.source}, split {run_config.data.split})", file=sys.stderr)

    hooks = TrainingHooks()
    bar = _progress(0, f"training {run_config.model.family}", "step", disable=quiet)

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


def cmd_generate(args: argparse.Namespace) -> int:
    from .core.export import save_grid

    out = _out_file(args.out, (".png",))
    model = _load_model(args.checkpoint, args.device)
    faces = model.sample(args.n, seed=args.seed, truncation=args.truncation)
    labels = [str(args.seed + i) for i in range(args.n)] if args.labels else None
    save_grid(faces, out, args.ncols, labels=labels, scale=args.scale)
    print(f"wrote {out} ({args.n} face{'s' if args.n != 1 else ''}, seeds {args.seed}..{args.seed + args.n - 1})")
    return 0


def cmd_morph(args: argparse.Namespace) -> int:
    from .core.export import morph_strip, save_gif, save_image
    from .core.latent import morph_latents

    out = _out_file(args.out, (".png", ".gif"))
    if args.steps < 2:
        raise CliError("--steps must be at least 2")
    model = _load_model(args.checkpoint, args.device)
    a, b = _parse_endpoint(model, args.source), _parse_endpoint(model, args.target)
    latents = morph_latents(a, b, args.steps, spherical=args.slerp, center=model.latent_mean)
    frames = model.decode(latents)
    if out.suffix.lower() == ".gif":
        save_gif(frames, out, duration_ms=args.duration, scale=args.scale)
    else:
        save_image(morph_strip(frames, scale=args.scale), out)
    print(f"wrote {out} ({args.steps} frames, {'slerp' if args.slerp else 'lerp'})")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from .core.maps import build_map_source, render_map_png
    from .core.projection import ProjectionParams, project

    out = _out_file(args.out, (".npz",))
    png = _out_file(args.png, (".png",)) if args.png else None
    model = _load_model(args.checkpoint, args.device)
    source = build_map_source(model, args.data, n=args.n)
    params = ProjectionParams(method=args.method, perplexity=args.perplexity, n_neighbors=args.neighbors,
                              min_dist=args.min_dist)
    bar = _progress(100, f"{args.method} of {len(source.latents)} points", "%")
    xy = project(source.features, params, cache_key=source.cache_key,
                 progress=lambda f, layout: (setattr(bar, "n", int(100 * f)), bar.refresh()))
    bar.close()
    np.savez_compressed(out, xy=xy, latents=source.latents, labels=np.array(source.labels), method=args.method)
    if png is not None:
        render_map_png(xy, source.faces, png)
    print(f"wrote {out} ({len(xy)} points, {args.method})" + (f" and {png}" if png else ""))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .core.data import load_folder
    from .core.metrics import fid_kid, generate_for_fid, recon_metrics, reference_stats

    if not Path(args.data).is_dir():
        raise CliError(f"data folder not found: {args.data}")
    model = _load_model(args.checkpoint, args.device)
    result: dict[str, Any] = {"checkpoint": str(args.checkpoint), "family": model.family}
    if model.has_encoder:
        faces = load_folder(args.data, model.resolution, split=args.split)
        result.update(recon_metrics(model, faces.images))
        result["split"] = args.split
    if args.fid:
        ref_bar = _progress(0, "reference features", "img")
        def on_reference(done: int, total: int) -> None:
            ref_bar.total, ref_bar.n = total, done
            ref_bar.refresh()

        ref = reference_stats(args.data, key=None, device=args.device, progress=on_reference)
        ref_bar.close()
        generated = generate_for_fid(model, args.fid_n)
        bar = _progress(len(generated), "FID features", "img")
        result.update(fid_kid(generated, ref, device=args.device,
                              progress=lambda d, t: (setattr(bar, "n", d), bar.refresh())))
        bar.close()
        result["fid_n"] = args.fid_n
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


COMMANDS = {"train": cmd_train, "generate": cmd_generate, "morph": cmd_morph, "embed": cmd_embed, "eval": cmd_eval}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        try:
            from .ui.app import run_app
        except ImportError as err:  # the GUI is optional for headless servers
            print(f"waifu-studio: the desktop app is not available ({err}); see --help for the CLI", file=sys.stderr)
            parser.print_help()
            return EXIT_USAGE
        return run_app()
    try:
        return COMMANDS[args.command](args)
    except (CliError, WaifuError) as err:
        print(f"waifu-studio {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"waifu-studio {args.command}: interrupted", file=sys.stderr)
        return 130
