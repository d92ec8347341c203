#!/usr/bin/env bash
# How the README's screenshots were made: the real app under Xvfb, driven by xdotool as a user
# would drive it (clicks and typing), grabbed with ImageMagick's `import`.
#   apt-get install -y xvfb xdotool imagemagick libxcb-cursor0 libxcb-icccm4 libxcb-image0 \
#     libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 \
#     libxkbcommon-x11-0
#   bash resources/screenshots/take_screenshots.sh 1280x800 /tmp/shots   (or 1024x700)
# Click positions are those of the 1280x800 layout (tabs on y=62); at 1024x700 only the tabs are
# visited. The shared faces folder (../shared/data/anime-faces-64) is used for Memorisation.
set -u
SIZE=${1:-1280x800}; OUT=${2:-/tmp/shots}; FACES=${FACES:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/data/anime-faces-64}
mkdir -p "$OUT"
export DISPLAY=:99 HOME=$(mktemp -d) WAIFU_STUDIO_CACHE=${WAIFU_STUDIO_CACHE:-/tmp/waifu-shots-cache}
export XDG_CONFIG_HOME=$HOME/.config
Xvfb :99 -screen 0 "${SIZE}x24" -nolisten tcp >/dev/null 2>&1 & XVFB=$!
sleep 1.5
cd "$(dirname "$0")/../.."
waifu-studio 2>"$OUT/app.err" & APP=$!
for _ in $(seq 60); do xdotool search --name "Waifu Studio" >/dev/null 2>&1 && break; sleep 1; done
sleep 8
shot() { import -window root "$OUT/$1.png"; echo "saved $OUT/$1.png"; }
tab() { xdotool mousemove "$1" 62 click 1; sleep "${2:-3}"; }
shot generate
if [ "$SIZE" != 1280x800 ]; then
  for t in 110:morph 188:latent-map 277:directions 380:reconstructions 466:train 530:timeline 607:compare 700:memorisation; do
    tab "${t%%:*}"; shot "${t##*:}"
  done
else
  tab 110; shot morph
  tab 277 6; shot directions
  tab 188; xdotool mousemove 1065 318 click 1; sleep 90            # Compute map (5,000 prior samples, t-SNE)
  xdotool mousemove 1134 422 click 1; sleep 1.5; xdotool mousemove 1080 467 click 1; sleep 15  # colour: hair hue
  xdotool mousemove 300 300 keydown shift mousedown 1               # shift-drag a lasso
  for p in "380 260" "460 290" "500 360" "470 440" "380 460" "300 420" "280 340" "300 300"; do
    xdotool mousemove $p; sleep 0.15; done
  xdotool mouseup 1 keyup shift; sleep 6; xdotool mousemove 640 560 click 1; sleep 4; shot latent-map
  tab 607; xdotool mousemove 940 152 click 1; sleep 1.5; xdotool mousemove 770 197 click 1; sleep 8; shot compare
  tab 700; xdotool mousemove 400 95 click 1; xdotool type --delay 5 "$FACES"
  xdotool mousemove 240 152 click 1; sleep 60                       # Nearest training faces
  xdotool mousemove 172 388 click 1; sleep 120; shot memorisation   # Run report
fi
kill $APP; sleep 2; kill $XVFB
