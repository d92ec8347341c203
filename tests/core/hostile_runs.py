"""Generators of tampered run folders and hostile command lines, made by the tests.

A run-folder kind edits a copy of a real (tiny) run folder; the command tried on it is
``train --resume``. An argument kind is a ``waifu-studio`` command line with placeholders the
test fills in: ``{ckpt}`` (a tiny AE), ``{gan}`` (a tiny DCGAN), ``{out}`` (a writable folder),
``{data}`` (a folder of faces), ``{fifo}`` (a FIFO named face.png), ``{new_run}`` (a fresh run
folder path) and ``{file}`` (an existing regular file).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tests.core.hostile_files import OK, REFUSED, Kind

CONFIG, STATE, METRICS, LOCK = "config.json", "train_state.pt", "metrics.jsonl", ".lock"

# ----------------------------------------------------------------------------- run folders


def _config(change: Callable[[dict], Any]) -> Callable[[Path], None]:
    def make(run: Path) -> None:
        config = json.loads((run / CONFIG).read_text())
        change(config)
        (run / CONFIG).write_text(json.dumps(config))
    return make


def _set(section: str, key: str, value: Any) -> Callable[[Path], None]:
    return _config(lambda c: c[section].__setitem__(key, value))


def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def make(run: Path) -> None:
        (run / name).write_bytes(data.encode() if isinstance(data, str) else data)
    return make


def _append(name: str, text: str) -> Callable[[Path], None]:
    def make(run: Path) -> None:
        with open(run / name, "a") as fh:
            fh.write(text)
    return make


def _replace(name: str, how: str) -> Callable[[Path], None]:
    def make(run: Path) -> None:
        path = run / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        if how == "fifo":
            os.mkfifo(path)
        elif how == "folder":
            path.mkdir()
        elif how == "dev_zero":
            os.symlink("/dev/zero", path)
    return make


def _state(change: Callable[[dict], Any]) -> Callable[[Path], None]:
    """Edit the real state in place (``change``'s return value is ignored)."""
    def make(run: Path) -> None:
        state = torch.load(run / STATE, weights_only=True)
        change(state)
        torch.save(state, run / STATE)
    return make


def _state_is(value: Any) -> Callable[[Path], None]:
    def make(run: Path) -> None:
        torch.save(value, run / STATE)
    return make


def _optimizer(state: dict) -> dict:
    return next(iter(state["objective"]["optimizers"].values()))


def _first_weight(state: dict) -> str:
    return next(k for k, v in state["model"].items() if v.is_floating_point() and v.dim() > 1)


def _malicious_state(run: Path) -> None:
    """A real torch zip whose pickle calls os.system: the safe loader must refuse it, in one line."""
    source = (run / STATE).read_bytes()
    payload = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as old, zipfile.ZipFile(out, "w") as new:
        for entry in old.infolist():
            new.writestr(entry, payload if entry.filename.endswith("data.pkl") else old.read(entry))
    (run / STATE).write_bytes(out.getvalue())


def _inflating_state(size: int) -> Callable[[Path], None]:
    """The state's first storage entry replaced by ``size`` zero bytes, deflated (a few MB on disk)."""
    def make(run: Path) -> None:
        source = (run / STATE).read_bytes()
        out = run / (STATE + ".new")
        with zipfile.ZipFile(io.BytesIO(source)) as old, \
                zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as new:
            storages = sorted(e.filename for e in old.infolist() if "/data/" in e.filename)
            for entry in old.infolist():
                if entry.filename == storages[0]:
                    with new.open(entry.filename, "w", force_zip64=True) as fh:
                        for _ in range(size // 2**20):
                            fh.write(bytes(2**20))
                else:
                    new.writestr(entry.filename, old.read(entry))
        out.replace(run / STATE)
    return make


def _rng_wrong_size(state: dict) -> None:
    state["torch_rng"] = state["torch_rng"][:100]


def _perm_out_of_range(state: dict) -> None:
    state["perm"] = state["perm"].clone()
    state["perm"][0] = 10**9


def _perm_duplicates(state: dict) -> None:
    state["perm"] = torch.zeros_like(state["perm"])


def _model_shape(state: dict) -> None:
    name = _first_weight(state)
    state["model"][name] = torch.zeros(3, 3)


def _model_nan(state: dict) -> None:
    name = _first_weight(state)
    state["model"][name] = torch.full_like(state["model"][name], float("nan"))


def _exp_avg_shape(state: dict) -> None:
    slots = next(iter(_optimizer(state)["state"].values()))
    slots["exp_avg"] = torch.zeros(7)


def _deep_config(run: Path) -> None:
    (run / CONFIG).write_text("[" * 100_000 + "]" * 100_000)


RUN_FOLDER_KINDS: list[Kind] = [
    Kind("good", lambda run: None, OK),
    Kind("torn_last_metrics_line", _append(METRICS, '{"step": 1, "loss": 0.'), OK),
    Kind("stale_temp_files", _write(f".{STATE}.abc123.tmp", b"half"), OK),
    Kind("checkpoint_missing", _replace("checkpoint.safetensors", "none"), OK),
    Kind("config_missing", _replace(CONFIG, "none"), REFUSED),
    Kind("config_empty", _write(CONFIG, b""), REFUSED),
    Kind("config_not_json", _write(CONFIG, "{oops"), REFUSED),
    Kind("config_a_list", _write(CONFIG, "[]"), REFUSED),
    Kind("config_nested_100k_deep", _deep_config, REFUSED),
    Kind("config_2mb", _config(lambda c: c.__setitem__("padding", " " * 2_000_000)), REFUSED),
    Kind("config_fifo", _replace(CONFIG, "fifo"), REFUSED),
    Kind("config_folder", _replace(CONFIG, "folder"), REFUSED),
    Kind("config_dev_zero", _replace(CONFIG, "dev_zero"), REFUSED),
    Kind("config_family_changed", _config(lambda c: c["model"].__setitem__("family", "vae")), REFUSED),
    Kind("config_width_changed", _set("model", "width", 12), REFUSED),
    Kind("config_resolution_changed", _config(lambda c: (c["model"].__setitem__("resolution", 64),
                                                          c["data"].__setitem__("resolution", 64))), REFUSED),
    Kind("config_section_missing", _config(lambda c: c.pop("train")), REFUSED),
    Kind("config_unknown_key", _set("train", "turbo", True), REFUSED),
    Kind("config_data_source_proc", _set("data", "source", "/proc"), REFUSED),
    Kind("config_data_source_missing", _set("data", "source", "/nonexistent/faces"), REFUSED),
    Kind("config_data_size_changed", _set("data", "builtin_count", 40), REFUSED),
    Kind("config_batch_size_fraction", _set("train", "batch_size", 2.5), REFUSED),
    Kind("config_lr_text", _set("train", "lr", "0.001"), REFUSED),
    Kind("config_lr_nan", _set("train", "lr", float("nan")), REFUSED),
    Kind("config_sample_count_1e9", _set("train", "sample_count", 10**9), REFUSED),
    Kind("config_hflip_text", _set("train", "hflip", "no"), REFUSED),
    Kind("state_missing", _replace(STATE, "none"), REFUSED),
    Kind("state_empty", _write(STATE, b""), REFUSED),
    Kind("state_random_bytes", _write(STATE, os.urandom(4096)), REFUSED),
    Kind("state_fifo", _replace(STATE, "fifo"), REFUSED),
    Kind("state_dev_zero", _replace(STATE, "dev_zero"), REFUSED),
    Kind("state_folder", _replace(STATE, "folder"), REFUSED),
    Kind("state_plain_pickle", _write(STATE, pickle.dumps({"step": 1})), REFUSED),
    Kind("state_runs_code", _malicious_state, REFUSED),
    Kind("state_inflates_to_1gib", _inflating_state(2**30), REFUSED),
    Kind("state_a_list", _state_is([1, 2, 3]), REFUSED),
    Kind("state_key_missing", _state(lambda s: s.pop("perm")), REFUSED),
    Kind("state_key_extra", _state(lambda s: s.__setitem__("bonus", 1)), REFUSED),
    Kind("state_step_text", _state(lambda s: s.__setitem__("step", "100")), REFUSED),
    Kind("state_step_negative", _state(lambda s: s.__setitem__("step", -100)), REFUSED),
    Kind("state_step_fraction", _state(lambda s: s.__setitem__("step", 2.5)), REFUSED),
    Kind("state_step_bool", _state(lambda s: s.__setitem__("step", True)), REFUSED),
    Kind("state_elapsed_nan", _state(lambda s: s.__setitem__("elapsed", float("nan"))), REFUSED),
    Kind("state_perm_short", _state(lambda s: s.__setitem__("perm", s["perm"][:-1])), REFUSED),
    Kind("state_perm_out_of_range", _state(_perm_out_of_range), REFUSED),
    Kind("state_perm_duplicates", _state(_perm_duplicates), REFUSED),
    Kind("state_perm_float", _state(lambda s: s.__setitem__("perm", s["perm"].float())), REFUSED),
    Kind("state_rng_wrong_size", _state(_rng_wrong_size), REFUSED),
    Kind("state_data_rng_text", _state(lambda s: s.__setitem__("data_rng", "seed")), REFUSED),
    Kind("state_model_key_missing", _state(lambda s: s["model"].pop(_first_weight(s))), REFUSED),
    Kind("state_model_wrong_shape", _state(_model_shape), REFUSED),
    Kind("state_model_nan", _state(_model_nan), REFUSED),
    Kind("state_objective_empty", _state(lambda s: s.__setitem__("objective", {})), REFUSED),
    Kind("state_optimizer_groups_empty", _state(lambda s: _optimizer(s).__setitem__("param_groups", [])), REFUSED),
    Kind("state_optimizer_moment_shape", _state(_exp_avg_shape), REFUSED),
    Kind("state_optimizer_lr_text", _state(lambda s: _optimizer(s)["param_groups"][0].__setitem__("lr", "fast")),
         REFUSED),
    Kind("metrics_step_text", _append(METRICS, '{"step": "abc", "loss": 1.0}\n'), REFUSED),
    Kind("metrics_step_null", _append(METRICS, '{"step": null}\n'), REFUSED),
    Kind("metrics_garbage_line", _append(METRICS, "\x00\x01garbage\n"), OK),  # not a row: dropped
    Kind("metrics_nested_deep_line", _append(METRICS, "[" * 50_000 + "]" * 50_000 + "\n"), OK),
    # A FIFO holds no rows: read as empty (never opened, so never waited on), then replaced by a file.
    Kind("metrics_fifo", _replace(METRICS, "fifo"), OK),
    Kind("lock_fifo", _replace(LOCK, "fifo"), REFUSED),
    Kind("lock_folder", _replace(LOCK, "folder"), REFUSED),
]


# ----------------------------------------------------------------------------- arguments

_TRAIN = ["train", "--model", "ae", "--data", "builtin", "--out", "{new_run}", "--resolution", "32", "--width", "4",
          "--latent-dim", "4", "--builtin-count", "32", "--batch-size", "8", "--max-steps", "2", "--precision", "fp32"]
_GEN = ["generate", "--checkpoint", "{ckpt}", "--seed", "0", "--out", "{out}/g.png"]
_MORPH = ["morph", "--checkpoint", "{ckpt}", "--from", "1", "--to", "2", "--out", "{out}/m.png"]
_EMBED = ["embed", "--checkpoint", "{ckpt}", "--data", "prior", "--method", "pca", "--n", "20",
          "--out", "{out}/e.npz"]
_EVAL = ["eval", "--checkpoint", "{ckpt}", "--data", "{data}", "--json"]


def _args(base: list[str], *extra: str) -> Callable[[], list[str]]:
    return lambda: [*base, *extra]


ARGUMENT_KINDS: list[Kind] = [
    Kind("generate_good", _args(_GEN, "--n", "4"), OK),
    Kind("generate_folder", _args(_GEN[:-2], "--n", "3", "--out", "{out}/faces/"), OK),
    Kind("generate_n_zero", _args(_GEN, "--n", "0"), REFUSED),
    Kind("generate_n_negative", _args(_GEN, "--n", "-1"), REFUSED),
    Kind("generate_n_1e9", _args(_GEN, "--n", "1000000000"), REFUSED),
    Kind("generate_n_100000_grid", _args(_GEN, "--n", "100000"), REFUSED),
    Kind("generate_scale_100000", _args(_GEN, "--scale", "100000"), REFUSED),
    Kind("generate_scale_64_grid_too_big", _args(_GEN, "--n", "64", "--scale", "64"), REFUSED),
    Kind("generate_seed_negative", _args(_GEN[:4], "-1", "--out", "{out}/g.png"), REFUSED),
    Kind("generate_seed_2_to_the_64", _args(_GEN[:4], "18446744073709551616", "--out", "{out}/g.png"), REFUSED),
    Kind("generate_seeds_past_max", _args(_GEN[:4], "2147483647", "--n", "2", "--out", "{out}/g.png"), REFUSED),
    Kind("generate_truncation_nan", _args(_GEN, "--truncation", "nan"), REFUSED),
    Kind("generate_truncation_inf", _args(_GEN, "--truncation", "inf"), REFUSED),
    Kind("generate_truncation_negative", _args(_GEN, "--truncation", "-1"), REFUSED),
    Kind("generate_truncation_1e308", _args(_GEN, "--truncation", "1e308"), REFUSED),
    Kind("generate_ncols_zero", _args(_GEN, "--ncols", "0"), REFUSED),
    Kind("generate_ncols_1e9", _args(_GEN, "--n", "4", "--ncols", "1000000000"), OK),
    Kind("generate_out_no_suffix", _args(_GEN[:-2], "--out", "{out}/g"), REFUSED),
    Kind("generate_out_missing_folder", _args(_GEN[:-2], "--out", "/nonexistent/g.png"), REFUSED),
    Kind("generate_checkpoint_fifo", _args(["generate", "--checkpoint", "{fifo}", "--seed", "0", "--out",
                                            "{out}/g.png"]), REFUSED),
    Kind("generate_device_bogus", _args(_GEN, "--device", "tpu9"), REFUSED),
    Kind("morph_good_gif", _args(_MORPH[:-2], "--out", "{out}/m.gif"), OK),
    Kind("morph_steps_one", _args(_MORPH, "--steps", "1"), REFUSED),
    Kind("morph_steps_1e9", _args(_MORPH, "--steps", "1000000000"), REFUSED),
    Kind("morph_duration_1e9", _args(_MORPH[:-2], "--out", "{out}/m.gif", "--duration", "1000000000"), REFUSED),
    Kind("morph_duration_zero", _args(_MORPH[:-2], "--out", "{out}/m.gif", "--duration", "0"), REFUSED),
    Kind("morph_scale_100000", _args(_MORPH, "--scale", "100000"), REFUSED),
    Kind("morph_from_neither", _args(["morph", "--checkpoint", "{ckpt}", "--from", "not-a-file", "--to", "2",
                                      "--out", "{out}/m.png"]), REFUSED),
    Kind("morph_from_huge_seed", _args(["morph", "--checkpoint", "{ckpt}", "--from", "99999999999999999999",
                                        "--to", "2", "--out", "{out}/m.png"]), REFUSED),
    Kind("morph_from_fifo", _args(["morph", "--checkpoint", "{ckpt}", "--from", "{fifo}", "--to", "2",
                                   "--out", "{out}/m.png"]), REFUSED),
    Kind("morph_out_txt", _args(_MORPH[:-2], "--out", "{out}/m.txt"), REFUSED),
    Kind("embed_good", _args(_EMBED), OK),
    Kind("embed_n_1e9", _args(_EMBED, "--n", "1000000000"), REFUSED),
    Kind("embed_n_zero", _args(_EMBED, "--n", "0"), REFUSED),
    Kind("embed_perplexity_nan", _args(_EMBED, "--perplexity", "nan"), REFUSED),
    Kind("embed_perplexity_inf", _args(_EMBED, "--perplexity", "inf"), REFUSED),
    Kind("embed_min_dist_nan", _args(_EMBED, "--min-dist", "nan"), REFUSED),
    Kind("embed_neighbors_1e9", _args(_EMBED, "--neighbors", "1000000000"), REFUSED),
    Kind("embed_data_proc", _args(["embed", "--checkpoint", "{ckpt}", "--data", "/proc", "--method", "pca",
                                   "--out", "{out}/e.npz"]), REFUSED),
    Kind("embed_folder_on_gan", _args(["embed", "--checkpoint", "{gan}", "--data", "{data}", "--method", "pca",
                                       "--out", "{out}/e.npz"]), REFUSED),
    Kind("eval_good", _args(_EVAL), OK),
    Kind("eval_data_missing", _args(["eval", "--checkpoint", "{ckpt}", "--data", "/nonexistent", "--json"]), REFUSED),
    Kind("eval_data_a_file", _args(["eval", "--checkpoint", "{ckpt}", "--data", "{file}", "--json"]), REFUSED),
    Kind("eval_fid_n_1e9", _args(_EVAL, "--fid", "--fid-n", "1000000000"), REFUSED),
    Kind("train_good", _args(_TRAIN), OK),
    Kind("train_huge_architecture", _args(_TRAIN, "--resolution", "64", "--width", "1024", "--latent-dim", "4096",
                                          "--extra-convs", "4"), REFUSED),
    Kind("train_data_proc", _args(_TRAIN[:4], "/proc", *_TRAIN[5:]), REFUSED),
    Kind("train_out_is_a_file", _args(_TRAIN[:6], "{file}", *_TRAIN[7:]), REFUSED),
    Kind("train_out_under_proc", _args(_TRAIN[:6], "/proc/waifu-run", *_TRAIN[7:]), REFUSED),
    Kind("train_resume_missing", _args(["train", "--resume", "/nonexistent/run"]), REFUSED),
    Kind("train_no_out", _args(["train", "--model", "ae", "--data", "builtin"]), REFUSED),
    Kind("train_model_bogus", _args(_TRAIN[:2], "gan9000", *_TRAIN[3:]), REFUSED),
    Kind("train_epochs_zero", _args(_TRAIN, "--epochs", "0"), REFUSED),
    Kind("train_batch_one", _args(_TRAIN, "--batch-size", "1"), REFUSED),
    Kind("train_width_100000", _args(_TRAIN, "--width", "100000"), REFUSED),
    Kind("train_resolution_128", _args(_TRAIN, "--resolution", "128"), REFUSED),
    Kind("train_lr_nan", _args(_TRAIN, "--lr", "nan"), REFUSED),
    Kind("train_lr_inf", _args(_TRAIN, "--lr", "1e400"), REFUSED),
    Kind("train_betas_2_2", _args(_TRAIN, "--betas", "2", "2"), REFUSED),
    Kind("train_betas_nan", _args(_TRAIN, "--betas", "nan", "nan"), REFUSED),
    Kind("train_seed_2_to_the_64", _args(_TRAIN, "--seed", "18446744073709551616"), REFUSED),
    Kind("train_max_minutes_nan", _args(_TRAIN, "--max-minutes", "nan"), REFUSED),
    Kind("train_kl_beta_nan", _args(_TRAIN[:2], "vae", *_TRAIN[3:], "--kl-beta", "nan"), REFUSED),
    Kind("train_gp_weight_negative", _args(_TRAIN[:2], "wgan-gp", *_TRAIN[3:], "--gp-weight", "-1"), REFUSED),
    Kind("train_builtin_count_1e9", _args(_TRAIN, "--builtin-count", "1000000000"), REFUSED),
    Kind("train_epoch_checkpoint_minutes_nan", _args(_TRAIN, "--epoch-checkpoint-minutes", "nan"), REFUSED),
    Kind("unknown_command", _args(["conquer", "--world"]), REFUSED),
]
