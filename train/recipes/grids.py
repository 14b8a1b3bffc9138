"""Labelled picture grids for the recipes' figures (eval_students.py, readme_picture.py).

Usage (from a script in this folder): ``from grids import label, stack_rows``
"""

import numpy as np
import cv2


def label(rgb_u8_hwc: np.ndarray, text: str) -> np.ndarray:
    """A copy with ``text`` in white on a black band at the top left."""
    out = rgb_u8_hwc.copy()
    cv2.rectangle(out, (0, 0), (10 + 10 * len(text), 24), (0, 0, 0), -1)
    cv2.putText(out, text, (5, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of different widths, top to bottom, padded with white on the right and 4 px apart."""
    width = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
