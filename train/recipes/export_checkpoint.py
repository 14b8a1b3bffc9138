"""Export a training run's last checkpoint as a style (to end a long run early): OUT/<style>.safetensors.

Usage: python train/recipes/export_checkpoint.py runs/hayao [runs/shinkai ...]
"""

import sys
from pathlib import Path

from cartoonize.errors import CartoonizeError
from cartoonize.train.trainer import export_checkpoint

if __name__ == "__main__":
    if not sys.argv[1:] or sys.argv[1].startswith("-"):
        sys.exit(__doc__.strip())
    for run in sys.argv[1:]:
        try:
            print(export_checkpoint(Path(run)))
        except CartoonizeError as e:
            sys.exit(f"error: {e}")
