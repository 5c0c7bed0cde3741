"""The class judge: one small CNN, trained once on the real training images, that the whole project asks
"which class is this image, and how sure are you" (stage ``judge``). It reads the decoded latent paths of
the continuity claim (``aevae.continuity``) and the classes of the campaign's conditional-VAE samples.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aevae import data
from aevae.errors import StudyError
from aevae.params import SIDE
from aevae.runtime import progress, seed_everything

CLASSES = len(data.CLASSES)
CALIBRATION_BINS = 15  # expected calibration error over equal-width confidence bins (Guo et al., 2017)
LR = 1e-3
BATCH = 128


class Judge(nn.Module):
    """Two 3x3 conv blocks (32, 64 channels, max-pooled), 128 hidden units, 10 class logits; ``[B, 784]`` in."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Unflatten(1, (1, SIDE, SIDE)),
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (SIDE // 4) ** 2, 128), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(128, CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer ``[B, 128]``: the space path evenness is measured in."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def train(x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> Judge:
    """The judge trained with Adam (lr 1e-3, batch 128) on real images ``x: [N, 784]`` with classes ``y``."""
    g = seed_everything(seed)
    net = Judge()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    xt, yt = torch.as_tensor(np.asarray(x, np.float32)), torch.as_tensor(np.asarray(y, np.int64))
    for epoch in range(epochs):
        net.train()
        for idx in progress(torch.randperm(len(xt), generator=g).split(BATCH), desc=f"judge epoch {epoch + 1}"):
            loss = F.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


def load(path) -> Judge:
    """The judge saved by stage ``judge`` (its state dict), or one clear error."""
    from aevae import fileio

    net = Judge()
    try:
        net.load_state_dict(fileio.load_torch(path))
    except (RuntimeError, TypeError, KeyError, AttributeError):
        raise StudyError(f"{path}: not the class judge's weights; {fileio.restore_hint(path)}") from None
    return net.eval()


@torch.no_grad()
def read(net: Judge, x: np.ndarray, batch: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities ``[N, 10]`` and penultimate features ``[N, 128]`` of images ``x: [N, 784]``."""
    probs, feats = [], []
    for b in torch.as_tensor(np.asarray(x, np.float32)).split(batch):
        h = net.features(b)
        feats.append(h)
        probs.append(F.softmax(net.head(h), dim=1))
    if not probs:
        return np.zeros((0, CLASSES), np.float32), np.zeros((0, 128), np.float32)
    return torch.cat(probs).numpy(), torch.cat(feats).numpy()


def predict(net: Judge, x: np.ndarray) -> np.ndarray:
    """Predicted classes ``[N]`` of images ``[N, 784]``."""
    return read(net, x)[0].argmax(1)


def calibration(probs: np.ndarray, y: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, float]:
    """Accuracy, expected calibration error (|accuracy - confidence| weighted over ``bins`` equal-width
    confidence bins) and mean negative log-likelihood of ``probs: [N, 10]`` against labels ``y``."""
    y = np.asarray(y)
    conf, pred = probs.max(1), probs.argmax(1)
    hit = (pred == y).astype(np.float64)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    ece = sum(abs(hit[which == b].mean() - conf[which == b].mean()) * (which == b).mean()
              for b in range(bins) if (which == b).any())  # fmt: skip
    nll = float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None)).mean())
    return {"accuracy": float(hit.mean()), "ece": float(ece), "nll": nll, "mean_confidence": float(conf.mean())}
