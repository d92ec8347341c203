"""Re-save run checkpoints with fp16 weights (how the bundled files ship): python export_fp16.py SRC DST."""

from __future__ import annotations

import sys

import torch

from waifu_studio.core.io.checkpoint import load_checkpoint, save_checkpoint

model = load_checkpoint(sys.argv[1])
save_checkpoint(model, sys.argv[2], dtype=torch.float16, training=model.checkpoint_info.training)
print(f"{sys.argv[2]}: {model.checkpoint_info.describe()}")
