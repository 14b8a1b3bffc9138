"""Convert a full-tail FastGenerator style into the faster half-tail one (train/half_tail.py), no training.

Usage: python train/recipes/half_tail.py IN.safetensors OUT.safetensors [--fp16]

The metadata keeps the style, licence and trained size; the recipe records the conversion (mode
``convert``, 0 steps) and nests the original recipe under ``init_from``. How close the result is to the original is printed by
train/recipes/eval_students.py (pair the two) and was 48-50 dB on held-out photos (docs/STYLES.md).
"""

import argparse
from pathlib import Path

from cartoonize.errors import CartoonizeError
from cartoonize.train.half_tail import half_tail_from
from cartoonize.weights import load_generator, save_generator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--fp16", action="store_true", help="store float16 (as the bundled styles are)")
    args = ap.parse_args()
    try:
        full, meta = load_generator(args.source)
        if meta["architecture"] != "fast" or meta["args"].get("tail", "full") != "full":
            raise SystemExit(f"error: {args.source} is {meta['architecture']} {meta['args']}, not a full-tail fast student")
        half = half_tail_from(full)
        recipe = {"trainer": "train/recipes/half_tail.py", "mode": "convert", "steps": 0,
                  "method": "train/half_tail.py half_tail_from: closed-form, no training",
                  "data_sources": meta.get("recipe", {}).get("data_sources", []), "init_from": meta.get("recipe", {})}
        save_generator(half, args.out, architecture="fast", args={**meta["args"], "tail": "half"},
                       style=meta["style"], license=meta["license"], recipe=recipe, half=args.fp16,
                       work_side=meta.get("work_side"))
    except CartoonizeError as e:
        raise SystemExit(f"error: {e}") from None
    print(args.out)


if __name__ == "__main__":
    main()
