"""Export a training run's last checkpoint as a style (to end a long run early): OUT/<style>.safetensors.

Usage: python train/recipes/export_checkpoint.py runs/hayao
"""

import sys
from pathlib import Path

from cartoonize.train.trainer import export_checkpoint

if __name__ == "__main__":
    for run in sys.argv[1:]:
        print(export_checkpoint(Path(run)))
