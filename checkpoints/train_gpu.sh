#!/usr/bin/env bash
# Recipe that trained the bundled checkpoints on one GPU (all five runs share the card at once).
# Usage: bash checkpoints/train_gpu.sh FACES_DIR MINUTES [OUT_ROOT]
# FACES_DIR is the whole shared set; --split train keeps the validation faces (index % 10 == 0) out.
# Each run stops at its epoch count or after MINUTES of wall time, whichever comes first,
# always leaving a checkpoint; --resume RUN_DIR continues any of them later.
set -u
faces=$1; minutes=$2; root=${3:-runs}
common=(--data "$faces" --split train --device cuda --max-minutes "$minutes" --log-every 50 --sample-every 2000)
mkdir -p "$root"
python3 -m waifu_studio train --model ae --out "$root/ae" --latent-dim 384 --extra-convs 1 --lr-decay cosine --epochs ${AE_EPOCHS:-400} "${common[@]}" >"$root/ae.log" 2>&1 &
python3 -m waifu_studio train --model vae --out "$root/vae" --latent-dim 128 --extra-convs 1 --kl-beta 0.5 --kl-schedule linear --kl-warmup 5000 --lr-decay cosine --epochs ${VAE_EPOCHS:-150} "${common[@]}" >"$root/vae.log" 2>&1 &
python3 -m waifu_studio train --model vae --out "$root/vae-baseline" --latent-dim 32 --kl-beta 1 --kl-schedule constant --epochs ${VAE_EPOCHS:-150} "${common[@]}" >"$root/vae-baseline.log" 2>&1 &
python3 -m waifu_studio train --model dcgan --out "$root/dcgan" --latent-dim 128 --real-label 0.9 --fake-label 0.0 --ema 0.999 --epochs ${DCGAN_EPOCHS:-400} "${common[@]}" >"$root/dcgan.log" 2>&1 &
python3 -m waifu_studio train --model wgan-gp --out "$root/wgan-gp" --latent-dim 128 --n-critic 5 --gp-weight 10 --lr 2e-4 --lr-d 2e-4 --ema 0.999 --epochs ${WGAN_EPOCHS:-2000} "${common[@]}" >"$root/wgan-gp.log" 2>&1 &
wait
for run in ae vae vae-baseline dcgan wgan-gp; do
  echo "== $run"; tail -n 2 "$root/$run.log"
  python3 - "$root/$run" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl") if l.strip()]
if rows:
    r = rows[-1]
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
PY
done
