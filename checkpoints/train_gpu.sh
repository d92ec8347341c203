#!/usr/bin/env bash
# Recipe that trained the bundled checkpoints (session 3): eight runs share one GPU at once.
# Usage: bash checkpoints/train_gpu.sh FACES_DIR MINUTES [OUT_ROOT]
# FACES_DIR is the whole shared set; --split train keeps the validation faces (index % 10 == 0) out.
# Every run stops after MINUTES of wall time (the AE/VAE cosine schedules anneal to zero by then),
# always leaving a checkpoint; `waifu-studio train --resume RUN_DIR` continues any of them later.
# GAN checkpoints are also copied to OUT_ROOT/snapshots every SNAPSHOT_SECONDS (default 180) so
# the finish script can keep the best by FID.
set -u
faces=$1; minutes=$2; root=${3:-runs}
common=(--data "$faces" --split train --device "${DEVICE:-cuda}" --max-minutes "$minutes" --log-every 100 --sample-every 2000
        --epoch-checkpoint-minutes 1)
gan=(--latent-dim 128 --ema 0.999 --epochs 100000)
vae=(--epochs 100000 --kl-schedule linear --kl-warmup 5000 --lr-decay cosine)
mkdir -p "$root/snapshots"
w() { local name=$1; shift; python3 -m waifu_studio train --out "$root/$name" "$@" "${common[@]}" >"$root/$name.log" 2>&1 & }
# Prime the dataset cache once, so the eight runs don't all decode 20k JPEGs at the same moment.
python3 -c "from waifu_studio.core.data import load_folder; import sys; print(len(load_folder(sys.argv[1], 64).images))" "$faces"
w dcgan-sn      --model dcgan "${gan[@]}" --d-norm spectral --augment color,translation
w dcgan-sn-ttur --model dcgan "${gan[@]}" --d-norm spectral --augment color,translation,cutout --lr 1e-4 --lr-d 4e-4 --betas 0.0 0.9
w wgan-gp-5     --model wgan-gp "${gan[@]}" --augment color,translation --n-critic 5 --lr 2e-4 --lr-d 2e-4
w wgan-gp-2     --model wgan-gp "${gan[@]}" --augment color,translation,cutout --n-critic 2 --lr 2e-4 --lr-d 2e-4
w ae-640        --model ae --latent-dim 640 --width 48 --extra-convs 2 --lr-decay cosine --epochs 100000
w ae-512        --model ae --latent-dim 512 --width 56 --extra-convs 1 --lr-decay cosine --epochs 100000
w vae           --model vae --latent-dim 256 --width 56 --extra-convs 1 --kl-beta 0.2 "${vae[@]}"
w vae-baseline  --model vae --latent-dim 32 --kl-beta 1 --kl-schedule constant --epochs 100000
(   # GAN snapshots for the finish script's best-of choice
  end=$((SECONDS + ${minutes%.*} * 60 + 60))
  while [ $SECONDS -lt $end ] && pgrep -f "[w]aifu_studio train" >/dev/null; do
    sleep "${SNAPSHOT_SECONDS:-180}"
    for run in dcgan-sn dcgan-sn-ttur wgan-gp-5 wgan-gp-2; do
      [ -f "$root/$run/checkpoint.safetensors" ] && cp "$root/$run/checkpoint.safetensors" "$root/snapshots/$run-t$SECONDS.safetensors"
    done
  done
) &
wait
