"""VAE-GAN (Larsen, Sønderby, Larochelle & Winther, ICML 2016): the VAE's decoder is also a GAN's generator,
and the reconstruction is measured in a discriminator's features instead of pixels.

The encoder and decoder are exactly the VAE comparator's (``models.VAE``, the study's dense net), so the
comparison is about the training objective alone; evaluation sees that VAE (``kind`` "vae": its prior,
its posterior means, its Bernoulli bounds). What each part minimises, as the authors' code does
(andersbll/autoencoding_beyond_pixels, ``model/aegan.py``):

- encoder: ``KL(q(z|x) || N(0, I)) + L_feat``, with ``L_feat = 0.5 * sum_f (D_l(x~) - D_l(x))^2`` per image
  (``D_l``: the discriminator's second convolution, before its batch norm; ``x~`` the decoded posterior
  sample); the GAN's gradient does not reach the encoder;
- decoder: ``recon_weight * L_feat + L_G``, ``L_G`` the generator's GAN loss on decoded prior samples;
- discriminator: real images against decoded prior samples, and nothing from ``L_feat``.

Where it differs from the paper and the authors' code, stated: the discriminator's fakes are prior samples
only (the paper's Algorithm 1 adds the reconstructions); ``L_G`` is the non-saturating ``-log D(G(z))``
(Goodfellow et al. 2014's recommendation) rather than ``log(1 - D(G(z)))``; Adam rather than RMSProp; the
decoder's weight on the reconstruction (``recon_weight``) is a knob, where theirs is 1e-6 to 5e-5 of a
sum over far more features. Kept: the equilibrium rule (the discriminator skips a step when either of its
two costs is below ``0.68 - 0.35``; the decoder skips its step when one is above ``0.68 + 0.35``).
The discriminator is the campaign's convolution family at 28x28: conv 4x4/2 (``channels[0]``, leaky ReLU),
conv 4x4/2 (``channels[1]``, batch norm, leaky ReLU), fully connected ``hidden`` (batch norm, leaky ReLU),
one logit. It is trained for a fixed number of epochs (a GAN's losses do not plateau); the last is kept.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aevae import losses, models, train
from aevae.campaign.config import VaeGan
from aevae.models import SIDE, Spec
from aevae.params import Params
from aevae.runtime import progress, seed_everything

log = logging.getLogger(__name__)

EQUILIBRIUM, MARGIN = 0.68, 0.35  # the authors' (``aegan.py``): ln 2 is a discriminator that cannot tell


class Discriminator(nn.Module):
    """``[B, 784]`` in [0, 1] -> one logit per image; ``features`` gives ``D_l``, ``[B, channels[1] * 7 * 7]``."""

    def __init__(self, channels: tuple[int, int] = (32, 64), hidden: int = 512):
        super().__init__()
        c1, c2 = channels
        self.lower = nn.Sequential(nn.Unflatten(1, (1, SIDE, SIDE)), nn.Conv2d(1, c1, 4, 2, 1), nn.LeakyReLU(0.2),
                                   nn.Conv2d(c1, c2, 4, 2, 1))  # fmt: skip
        side = SIDE // 4
        self.upper = nn.Sequential(nn.BatchNorm2d(c2), nn.LeakyReLU(0.2), nn.Flatten(),
                                   nn.Linear(c2 * side * side, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2),
                                   nn.Linear(hidden, 1))  # fmt: skip

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.lower(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upper(self.lower(x)).squeeze(1)


def feature_loss(d: Discriminator, x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
    """``L_feat`` per image, averaged over the batch: 0.5 * squared distance of ``D_l`` features (the
    Gaussian negative log-likelihood with unit variance, up to a constant); ``D_l`` has no batch norm."""
    f = d.features(torch.cat([x, x_rec]))
    real, rec = f.chunk(2)
    return 0.5 * (rec - real.detach()).square().sum(dim=1).mean()


def gan_terms(d: Discriminator, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The discriminator's two costs, -log D(real) and -log(1 - D(fake)), and the generator's non-saturating
    -log D(fake), batch means, from one pass over real and fake together (so batch norm normalises the
    three with the same statistics: a pass over fakes alone would score them differently)."""
    lr, lf = d(torch.cat([real, fake])).chunk(2)
    bce = F.binary_cross_entropy_with_logits
    return bce(lr, torch.ones_like(lr)), bce(lf, torch.zeros_like(lf)), bce(lf, torch.ones_like(lf))


class Parts(NamedTuple):
    """A VAE-GAN in training: the VAE, its discriminator and one optimizer per part."""

    vae: nn.Module
    d: Discriminator
    opt_enc: torch.optim.Optimizer
    opt_dec: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


def build(spec: Spec, knobs: VaeGan, device) -> Parts:
    vae = models.build(spec).to(device)
    d = Discriminator(knobs.channels, knobs.hidden).to(device)
    adam = lambda module: torch.optim.Adam(module.parameters(), lr=knobs.lr)  # noqa: E731
    return Parts(vae, d, adam(vae.encoder), adam(vae.decoder), adam(d))


def step(parts: Parts, x: torch.Tensor, knobs: VaeGan) -> tuple[dict[str, torch.Tensor], bool, bool]:
    """One VAE-GAN update on the batch ``x``; returns its terms (``kl``, ``feat``, ``pixel``, ``d_real``,
    ``d_fake``, ``g``) and whether the discriminator and the decoder took their steps (the equilibrium rule).
    The terms are checked finite before any parameter moves."""
    vae, d = parts.vae, parts.d
    mu, logvar = vae.posterior(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    logits = vae.decoder(z)
    x_rec = torch.sigmoid(logits)
    x_p = torch.sigmoid(vae.decoder(torch.randn_like(mu)))
    kl = losses.kl_to_prior(mu, logvar).mean()
    feat = feature_loss(d, x, x_rec)
    d_real, d_fake, g_loss = gan_terms(d, x, x_p)
    pixel = losses.recon_nll(logits, x).mean() if knobs.pixel_weight else torch.zeros(())
    terms = {"kl": kl, "feat": feat, "pixel": pixel, "d_real": d_real, "d_fake": d_fake, "g": g_loss}
    if not all(map(torch.isfinite, terms.values())):
        return terms, False, False
    train_d = not (d_real < EQUILIBRIUM - MARGIN or d_fake < EQUILIBRIUM - MARGIN)
    train_g = not (d_real > EQUILIBRIUM + MARGIN or d_fake > EQUILIBRIUM + MARGIN)
    if not (train_d or train_g):
        train_d = train_g = True
    # each part's gradient from its own loss only: encoder (KL + L_feat), decoder (weighted L_feat + L_G)
    rec = feat + knobs.pixel_weight * pixel
    enc_grads = torch.autograd.grad(kl + rec, list(vae.encoder.parameters()), retain_graph=True)
    dec_loss = knobs.recon_weight * rec + g_loss
    dec_grads = torch.autograd.grad(dec_loss, list(vae.decoder.parameters()), retain_graph=True) if train_g else None
    d_grads = torch.autograd.grad(d_real + d_fake, list(d.parameters())) if train_d else None
    for opt, params_, grads in ((parts.opt_enc, vae.encoder.parameters(), enc_grads),
                                (parts.opt_dec, vae.decoder.parameters(), dec_grads),
                                (parts.opt_d, d.parameters(), d_grads)):  # fmt: skip
        if grads is None:
            continue
        for prm, gr in zip(params_, grads, strict=True):
            prm.grad = gr
        opt.step()
    return terms, train_d, train_g


def train_vaegan(spec: Spec, p: Params, knobs: VaeGan, x_train: np.ndarray, x_val: np.ndarray, device,
                 replicate: int = 0) -> tuple[train.TrainResult, Discriminator]:  # fmt: skip
    """Train a VAE-GAN whose VAE has shape ``spec`` (kind "vae"); returns the VAE as a ``TrainResult`` (the
    last epoch; curves with the validation ELBO terms beside the GAN's costs) and the discriminator."""
    if spec.kind != "vae":
        raise ValueError(f"a VAE-GAN is built on a VAE; got a spec of kind {spec.kind!r}")
    g = seed_everything(train.run_seed(p, replicate))
    parts = build(spec, knobs, device)
    xt = torch.as_tensor(np.asarray(x_train), device=device)
    xv = torch.as_tensor(np.asarray(x_val), device=device)
    vae_loss = losses.loss_fn("vae", 1.0)
    curves = []
    for epoch in range(1, knobs.epochs + 1):
        parts.vae.train(), parts.d.train()
        sums = dict.fromkeys(("kl", "feat", "pixel", "d_real", "d_fake", "g"), 0.0)
        skipped = {"d": 0, "g": 0}
        bar = progress(train._batches(len(xt), p.train.batch_size, g), desc=f"{spec.name} epoch {epoch}/{knobs.epochs}")
        for idx in bar:
            terms, train_d, train_g = step(parts, xt[idx.to(device)], knobs)
            if not all(map(torch.isfinite, terms.values())):
                raise train.DivergedError(f"train {spec.name}: a VAE-GAN loss became non-finite at epoch {epoch}; "
                                          "try a lower variants.<name>.gan.lr in campaign/params.yaml")  # fmt: skip
            skipped["d"] += not train_d
            skipped["g"] += not train_g
            for k, v in terms.items():
                sums[k] += v.item() * len(idx)
        row = {"epoch": epoch, **{f"train_{k}": v / len(xt) for k, v in sums.items()},
               "d_skipped": skipped["d"], "g_skipped": skipped["g"]}  # fmt: skip
        row.update({f"val_{k}": v for k, v in train.evaluate_loss(parts.vae, vae_loss, xv).items()})
        if not math.isfinite(row["val_loss"]):
            raise train.DivergedError(f"train {spec.name}: the validation ELBO became {row['val_loss']}")
        curves.append(row)
        log.info("%s epoch %d: %s", spec.name, epoch, ", ".join(f"{k}={v:.3f}" for k, v in row.items() if k != "epoch"))
    return train.TrainResult(parts.vae.cpu().eval(), curves, knobs.epochs, "max_epochs"), parts.d.cpu().eval()
