"""Small training set-ups shared by the trainer tests."""

from __future__ import annotations

from waifu_studio.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig


def run_config(family, **train):
    """A 32 px, latent-16, width-8 run on the CPU in fp32; ``train`` overrides the training settings."""
    defaults = dict(batch_size=32, precision="fp32", log_every=5, sample_every=1000, device="cpu")
    defaults.update(train)
    return RunConfig(ModelConfig(family=family, resolution=32, latent_dim=16, width=8),
                     TrainConfig.for_family(family, **defaults), DataConfig(resolution=32))


def assert_cli_fails_in_one_line(argv: list[str], message: str, capsys) -> None:  # noqa: ANN001 - pytest's capsys
    """``main(argv)`` exits with status 2 and prints exactly one stderr line containing ``message``."""
    from waifu_studio.cli import main

    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
