#!/usr/bin/env bash
# What produced the bundled checkpoints and their figures, in one GPU session:
# unpack the shared faces and the Inception file, train all runs at once, evaluate, export fp16.
# Usage: bash checkpoints/gpu_train_eval.sh FACES_DIR INCEPTION_FILE MINUTES OUT_DIR
set -u
faces=$1; inception=$2; minutes=$3; out=$4
export WAIFU_STUDIO_INCEPTION=$inception PYTHONUNBUFFERED=1
AE_EPOCHS=${AE_EPOCHS:-120} VAE_EPOCHS=${VAE_EPOCHS:-140} DCGAN_EPOCHS=5000 WGAN_EPOCHS=20000 \
  bash "$(dirname "$0")/train_gpu.sh" "$faces" "$minutes" runs/final
mkdir -p "$out/ckpt" "$out/eval"
for run in ae vae vae-baseline dcgan wgan-gp; do
  python3 -m waifu_studio eval --checkpoint runs/final/$run/checkpoint.safetensors --data "$faces" --split val \
    --fid --json --device cuda > "$out/eval/$run.json"
  cat "$out/eval/$run.json"
  cp runs/final/$run/metrics.jsonl "$out/eval/$run.metrics.jsonl"
  cp runs/final/$run.log "$out/eval/$run.log"
done
for run in ae vae dcgan wgan-gp; do
  python3 checkpoints/export_fp16.py runs/final/$run/checkpoint.safetensors "$out/ckpt/$run.safetensors"
done
