"""Continuity of a latent in the source report's sense, "continuous transitions between similar categories",
read by the class judge (``aevae.judge``) along decoded straight lines between test images.

A path between a test image of class A and one of class B is continuous in that sense when every interior
image is judged A or B (no third class), is judged confidently (it looks like a real garment, not a ghosted
double image), and moves evenly through the judge's penultimate-layer features (no jump where the class
flips). A pixel cross-fade between the same images, which the old pixel-evenness measure scored as ideal,
fails on realism: its interior images are judged far less confidently than its (real) ends, and than a
morph through real images (tests/test_continuity.py).
"""

from __future__ import annotations

import numpy as np
import torch

from aevae.judge import CLASSES, Judge, read

# Groups of similar categories (Fashion-MNIST's label order): tops, footwear; trouser and bag stand alone.
GROUPS = {"tops": (0, 2, 3, 4, 6), "footwear": (5, 7, 9), "trouser": (1,), "bag": (8,)}
GROUP_OF = np.array([next(i for i, g in enumerate(GROUPS.values()) if c in g) for c in range(CLASSES)])


def path_scores(net: Judge, paths: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """What the judge says about decoded paths ``paths: [P, T, 784]`` from a test image of class ``a[i]`` to
    one of class ``b[i]`` (ends included), averaged over the paths:

    - ``ab``: of the paths whose two decoded ends the judge reads as A and B, the share whose every interior
      image it assigns to A or B (no third class); a path whose own ends are misread says nothing about
      the transition (nan when no path qualifies; ``ab_paths`` counts them);
    - ``confidence``: the judge's mean top probability on the interior images over that on the two decoded
      ends (realism relative to the model's own decodes, so a blurrier model is not marked down for blur
      alone; 1 = the interior looks as much like a garment as the ends, below 1 = ghosted in between);
    - ``evenness``: max step / mean step of the path in the judge's penultimate features (1 = even;
      large = the path jumps where the class changes).
    """
    p_, t = paths.shape[:2]
    if p_ == 0:
        return {"ab": float("nan"), "ab_paths": 0, "confidence": float("nan"), "evenness": float("nan")}
    probs, feats = read(net, paths.reshape(p_ * t, -1))
    probs, feats = probs.reshape(p_, t, -1), feats.reshape(p_, t, -1)
    pred = probs.argmax(2)
    ends_read = (pred[:, 0] == a) & (pred[:, -1] == b)
    inner = pred[:, 1:-1]
    ab = ((inner == a[:, None]) | (inner == b[:, None])).all(axis=1)
    top = probs.max(2).astype(np.float64)
    steps = np.linalg.norm(np.diff(feats.astype(np.float64), axis=1), axis=2)
    even = steps.max(1) / np.maximum(steps.mean(1), 1e-12)
    return {
        "ab": float(ab[ends_read].mean()) if ends_read.any() else float("nan"),
        "ab_paths": int(ends_read.sum()),
        "confidence": float(top[:, 1:-1].mean() / top[:, [0, -1]].mean()),
        "evenness": float(even.mean()),
    }


def pairs(y: np.ndarray, n: int, within: bool, generator: torch.Generator) -> np.ndarray:
    """``[<= n, 2]`` indices of test images of different classes, both in one group of ``GROUPS``
    (``within``) or in different groups, drawn from ``generator``."""
    y = np.asarray(y)
    i = torch.randint(len(y), (20 * n,), generator=generator).numpy()
    j = torch.randint(len(y), (20 * n,), generator=generator).numpy()
    same = GROUP_OF[y[i]] == GROUP_OF[y[j]]
    keep = (y[i] != y[j]) & (same if within else ~same)
    return np.stack([i[keep], j[keep]], axis=1)[:n]


def group_errors(pred: np.ndarray, y: np.ndarray) -> float:
    """The share of the misclassified images whose predicted class lies in the true class's group
    (nan when there is no error)."""
    wrong = np.asarray(pred) != np.asarray(y)
    if not wrong.any():
        return float("nan")
    return float((GROUP_OF[np.asarray(pred)[wrong]] == GROUP_OF[np.asarray(y)[wrong]]).mean())
