"""Dai & Wipf's second stage (ICLR 2019), as their code builds and trains it (daib13/TwoStageVAE,
``network/two_stage_vae_model.py`` and ``demo.py``): a second VAE fitted to a trained model's codes, sampled
instead of its prior; the campaign's ex-post sampler beyond the study's own (``aevae.samplers``).

- Its input: a VAE's codes drawn afresh every epoch from the first stage's posterior, ``mu + sd * eps``
  (theirs), unscaled. A deterministic AE has no ``sd``: its codes are the means, standardized per
  coordinate (our extension; their first stage is always a VAE).
- Encoder and decoder: ``depth`` fully connected ReLU layers of ``width`` units, whose output is
  concatenated with the layer's input before the linear heads (their skip connection); the encoder gives
  the mean and log standard deviation of ``u``; the decoder a mean ``z_hat`` and one learned scalar
  standard deviation ``gamma`` (``loggamma_z``, starting at 0) shared by every coordinate.
- Loss per code: sum of ((z - z_hat) / gamma)^2 / 2 + log gamma + log(2 pi) / 2, plus the KL of
  N(mu_u, sd_u) to N(0, I); averaged over the batch. Adam; lr halved every ``lr_halve_every`` epochs;
  ``len // batch_size`` batches per epoch (the last partial batch dropped, as theirs).
- A draw: ``u ~ N(0, I)``, ``z = z_hat(u) + gamma * eps``.

Their defaults: width 1024, depth 3, 800 epochs, lr 1e-4 halved every 300, batch 64; the campaign's
budget sets its own epochs (``campaign/params.yaml``). Layers start as ``tf.layers.dense`` starts them
(Glorot-uniform weights, zero biases). Where it differs from their code, stated: fewer epochs (the budget);
a floor on log gamma (``SecondStage.MIN_LOG_GAMMA``, far below any code's scale; theirs has none);
PyTorch's Adam, whose epsilon enters after the bias correction where TF1's enters before it (a difference
of epsilon-size); the codes of the training split only (the study holds a validation split out).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from aevae import losses
from aevae.errors import StudyError
from aevae.runtime import int_seed, seed_everything, stream

NAMES = ("two_stage",)  # the ex-post samplers the campaign adds to the study's (``fit``, ``draw``)


class _Half(nn.Module):
    """``depth`` ReLU layers of ``width`` units, the input concatenated to their output, then a linear head."""

    def __init__(self, dim: int, width: int, depth: int, out: int):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(dim if i == 0 else width, width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(dim + (width if depth else 0), out)
        for m in self.modules():  # as tf.layers.dense initialises
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([x, self.body(x)], dim=-1))


class SecondStage(nn.Module):
    """The second-stage VAE: codes ``z: [B, D]`` <-> ``u: [B, D]`` ~ N(0, I) (the module docstring)."""

    MIN_LOG_GAMMA = -10.0  # a floor on log gamma (sd 4.5e-5, far below any code scale): theirs has none

    def __init__(self, dim: int, width: int, depth: int):
        super().__init__()
        self.dim = dim
        self.encoder = _Half(dim, width, depth, 2 * dim)
        self.decoder = _Half(dim, width, depth, dim)
        self.log_gamma = nn.Parameter(torch.zeros(()))

    def gamma(self) -> torch.Tensor:
        return self.log_gamma.clamp(min=self.MIN_LOG_GAMMA).exp()

    def loss(self, z: torch.Tensor) -> torch.Tensor:
        """Negative ELBO per code, averaged over the batch, in nats."""
        mu, log_sd = self.encoder(z).chunk(2, dim=1)
        u = mu + torch.randn_like(mu) * log_sd.exp()
        log_gamma = self.log_gamma.clamp(min=self.MIN_LOG_GAMMA)
        nll = losses.gaussian_nll_of_mean(self.decoder(u), z, log_gamma)
        kl = (mu.square() + (2 * log_sd).exp() - 2 * log_sd - 1).sum(1) / 2
        return (nll + kl).mean()


def lr_at(cfg, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (from 0): ``lr`` halved every ``lr_halve_every`` epochs (theirs)."""
    return cfg.lr * 0.5 ** (epoch // cfg.lr_halve_every)


def fit(mean: np.ndarray, sd: np.ndarray | None, seed: int, cfg, device="cpu") -> dict:
    """A second stage trained on the first stage's posterior (``mean``, ``sd``, each ``[N, D]``; ``sd`` None for
    an AE: its codes standardized) on ``device``; ``cfg``: ``config.TwoStage``. Every random draw comes from CPU
    generators, so a device changes no draw. Returns it as a checkpoint's entry (``draw`` samples it): its
    weights, sizes and the codes' standardization, all on the CPU."""
    g = seed_everything(int_seed(seed, "two-stage init"))
    mu = torch.as_tensor(np.asarray(mean, np.float32))
    if sd is None:
        loc, scale = mu.mean(0), mu.std(0).clamp(min=1e-6)
        mu, sd_t = (mu - loc) / scale, torch.zeros_like(mu)
    else:
        loc, scale, sd_t = (
            torch.zeros(mu.shape[1]),
            torch.ones(mu.shape[1]),
            torch.as_tensor(np.asarray(sd, np.float32)),
        )
    batches = len(mu) // cfg.batch_size
    if batches == 0:
        raise StudyError(f"two_stage.batch_size: {cfg.batch_size} is more than the {len(mu)} training codes; "
                         "lower it in campaign/params.yaml")  # fmt: skip
    net = SecondStage(mu.shape[1], cfg.width, cfg.depth).to(device)
    mu, sd_t = mu.to(device), sd_t.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    for epoch in range(cfg.epochs):
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, epoch)
        order = torch.randperm(len(mu), generator=g)[: batches * cfg.batch_size]
        for idx in order.view(batches, cfg.batch_size).to(device):
            z = mu[idx] + sd_t[idx] * torch.randn(tuple(mu[idx].shape), generator=g).to(device)
            loss = net.loss(z)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return {"state": state, "width": cfg.width, "depth": cfg.depth, "loc": loc, "scale": scale}


def load_fit(fitted: dict) -> tuple[SecondStage, torch.Tensor, torch.Tensor]:
    """A fit (``fit``'s, or a checkpoint's copy of it) as (its network, the codes' location and scale); one
    that does not load is one clear error."""
    try:
        loc, scale = torch.as_tensor(fitted["loc"]), torch.as_tensor(fitted["scale"])
        net = SecondStage(len(loc), int(fitted["width"]), int(fitted["depth"]))
        net.load_state_dict(fitted["state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise StudyError(f"a saved second stage that does not load ({type(e).__name__}); re-run the variant's "
                         "stage, which fits it again") from None  # fmt: skip
    return net, loc, scale


def draw(fitted: dict, n: int, seed: int, device="cpu") -> np.ndarray:
    """``[n, D]`` codes from a fitted second stage (``fit``'s, or a checkpoint's copy of it): u ~ N(0, I),
    z ~ N(z_hat(u), gamma^2 I), from their own stream, so the same fit and seed draw the same codes."""
    net, loc, scale = load_fit(fitted)
    net = net.to(device).eval()
    with torch.no_grad():
        g = stream(seed, "two-stage samples")
        u = torch.randn((n, len(loc)), generator=g).to(device)
        z = net.decoder(u) + net.gamma() * torch.randn((n, len(loc)), generator=g).to(device)
        return (z.cpu() * scale + loc).numpy()


def two_stage(mean: np.ndarray, sd: np.ndarray | None, n: int, seed: int, cfg, device="cpu") -> np.ndarray:
    """``[n, D]`` codes from a second stage fitted to ``mean`` and ``sd`` (``fit``, then ``draw``)."""
    return draw(fit(mean, sd, seed, cfg, device), n, seed, device)
