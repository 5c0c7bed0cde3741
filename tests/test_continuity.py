"""The class judge and the continuity measure it gives: a pixel cross-fade must not score as a continuous
latent path; the arithmetic of each score on paths whose answer is known."""

import numpy as np
import pytest
import torch

from aevae import continuity, judge
from aevae.runtime import stream


@pytest.fixture(scope="module")
def trained(splits):
    """A judge trained briefly on 6,000 real training images, and its reading of 2,000 test images."""
    tr, te = splits["train"], splits["test"]
    net = judge.train(tr.x[:6000], tr.y[:6000], 2, 0)
    x, y = np.asarray(te.x[:2000]), np.asarray(te.y[:2000])
    return net, x, y


def test_the_judge_reads_real_images_well_and_reports_calibration(trained):
    net, x, y = trained
    probs, feats = judge.read(net, x)
    assert probs.shape == (2000, 10) and feats.shape == (2000, 128)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    cal = judge.calibration(probs, y)
    assert cal["accuracy"] > 0.75 and 0 <= cal["ece"] < 0.1
    assert (judge.predict(net, x) == probs.argmax(1)).all()


def test_calibration_by_hand():
    # two bins used: confidence 0.9 (2 right of 2 -> |1 - 0.9|) and 0.6 (1 right of 2 -> |0.5 - 0.6|)
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    y = np.array([0, 0, 0, 0])
    cal = judge.calibration(probs, y)
    assert cal["accuracy"] == 0.75
    assert cal["ece"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.1)
    assert cal["nll"] == pytest.approx(-np.mean(np.log([0.9, 0.9, 0.6, 0.4])))


def test_a_pixel_cross_fade_is_not_a_continuous_path(trained):
    """The old pixel-evenness measure gave a cross-fade its ideal score (1.0). The judge sees its ghosted
    double images: judged far less confidently than its own (real) ends, and than a morph through real
    images of the same two classes."""
    net, x, y = trained
    pairs = continuity.pairs(y, 200, True, stream(0, "test pairs"))
    a, b = y[pairs[:, 0]], y[pairs[:, 1]]
    t = np.linspace(0, 1, 11, dtype=np.float32)[None, :, None]
    fade = (1 - t) * x[pairs[:, 0]][:, None] + t * x[pairs[:, 1]][:, None]
    faded = continuity.path_scores(net, fade, a, b)
    assert faded["confidence"] < 0.9  # interior over ends: 1 would be as garment-like as the real ends

    # a morph through real images of A then B, each the one nearest (in judge features) to evenly spaced
    # points between the two ends: every image is real, so it is judged as confidently as the ends
    feats = judge.read(net, x)[1]
    morph = np.empty_like(fade)
    for k, (i, j) in enumerate(pairs):
        pool = np.flatnonzero((y == y[i]) | (y == y[j]))
        line = (1 - t[0]) * feats[i] + t[0] * feats[j]
        nearest = pool[((line[:, None, :] - feats[pool][None]) ** 2).sum(-1).argmin(1)]
        nearest[0], nearest[-1] = i, j
        morph[k] = x[nearest]
    morphed = continuity.path_scores(net, morph, a, b)
    assert morphed["confidence"] > faded["confidence"] + 0.05
    assert morphed["confidence"] > 0.9


class ToneJudge(judge.Judge):
    """A judge whose features are the pixels and whose class is the image's mean tone: 0 dark, 1 mid, 2 bright."""

    def features(self, x):
        return x

    def head(self, h):  # replaces the linear head
        m = h.mean(1, keepdim=True)
        return -100 * torch.cat([m**2, (m - 0.5) ** 2, (m - 1) ** 2], dim=1)


def test_path_score_arithmetic():
    net = ToneJudge()
    t = np.linspace(0, 1, 11, dtype=np.float32)[:, None]
    ramp = (t * np.ones((1, 784), np.float32))[None]  # dark -> mid -> bright in even steps
    s = continuity.path_scores(net, ramp, np.array([0]), np.array([2]))
    assert s["evenness"] == pytest.approx(1.0)
    assert s["ab"] == 0.0 and s["ab_paths"] == 1  # its middle is a third class (mid)
    jump = np.where(t < 0.5, 0.0, 1.0).astype(np.float32) * np.ones((1, 784), np.float32)
    s = continuity.path_scores(net, jump[None], np.array([0]), np.array([2]))
    assert s["evenness"] == pytest.approx(10.0)  # all the change in 1 of 10 steps
    assert s["ab"] == 1.0 and s["confidence"] == pytest.approx(1.0)  # only A or B, as sure inside as at the ends
    # ends the judge misreads: the path says nothing about the transition
    s = continuity.path_scores(net, ramp, np.array([1]), np.array([2]))
    assert np.isnan(s["ab"]) and s["ab_paths"] == 0


def test_pairs_within_and_across_groups():
    y = np.repeat(np.arange(10), 50)
    within = continuity.pairs(y, 300, True, stream(0, "w"))
    across = continuity.pairs(y, 300, False, stream(0, "a"))
    g = continuity.GROUP_OF
    assert len(within) == len(across) == 300
    assert (g[y[within[:, 0]]] == g[y[within[:, 1]]]).all() and (y[within[:, 0]] != y[within[:, 1]]).all()
    assert (g[y[across[:, 0]]] != g[y[across[:, 1]]]).all()
    # every class is in exactly one group
    assert sorted(c for grp in continuity.GROUPS.values() for c in grp) == list(range(10))


def test_group_errors():
    y = np.array([0, 0, 5, 5, 1])
    pred = np.array([2, 5, 7, 5, 8])  # errors: 0->2 (tops, within), 0->5 (across), 5->7 (footwear), 1->8 (across)
    assert continuity.group_errors(pred, y) == 0.5
    assert np.isnan(continuity.group_errors(y, y))
