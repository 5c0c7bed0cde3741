"""AE, VAE and conditional VAE over one encoder/decoder family, dense (the report's MLP) or convolutional.

Inputs are flattened images ``x: [B, 784]`` in [0, 1]; decoders return *logits* ``[B, 784]``
(``torch.sigmoid`` gives the image): the Bernoulli decoder's parameters, or, for a VAE with a Gaussian
decoder (Dai & Wipf's learned gamma), the mean's logits beside one learned log standard deviation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from aevae import data
from aevae.params import SIDE, Params

PIXELS = SIDE * SIDE
CLASSES = len(data.CLASSES)  # the conditional VAE's one-hot width
LIKELIHOODS = ("bernoulli", "gaussian")  # a VAE's decoder: Bernoulli logits, or N(sigmoid(logits), gamma^2 I)
# The study's models: the AE and the VAE at ``latent_dim`` and at ``latent_dim_2d`` (each pair matched;
# the source report compared its AE at 32 with its VAE at 2), the small pair drawn directly.
NAMES = ("ae", "vae", "ae_2d", "vae_2d")


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers through ``sizes`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


DAI_WIPF_BN_MOMENTUM = 0.001  # their batch norm's moving averages decay 0.999 (network/util.py); torch's default 0.1


def _dai_wipf_init(net: nn.Sequential) -> nn.Sequential:
    """Their initialisation (network/util.py): convolution weights from a normal of sd 0.02 truncated at two sd,
    fully connected and transposed-convolution weights from a normal of sd 0.02, biases 0; batch norm at 1 and 0."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
        elif isinstance(m, nn.Linear | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Conv2d | nn.Linear | nn.ConvTranspose2d):
            nn.init.zeros_(m.bias)
    return net


def _infogan_encoder(layers: tuple[int, ...], out: int) -> nn.Sequential:
    """Dai & Wipf's encoder: conv 4x4/2 + leaky ReLU (0.2), conv 4x4/2 + BN + leaky ReLU, fc + BN + leaky
    ReLU, then the linear head, initialised and normalised as theirs (docs/dai_wipf_protocol.md; their later
    code's spectral norm left out, and the head gives a log-variance where theirs gives 1e-6 + softplus(sd))."""
    *channels, hidden = layers
    mods: list[nn.Module] = [nn.Unflatten(1, (1, SIDE, SIDE))]
    c_in = 1
    for i, c in enumerate(channels):
        mods += [nn.Conv2d(c_in, c, 4, stride=2, padding=1)]
        mods += [nn.BatchNorm2d(c, momentum=DAI_WIPF_BN_MOMENTUM)] if i > 0 else []
        mods += [nn.LeakyReLU(0.2)]
        c_in = c
    side = SIDE >> len(channels)
    mods += [nn.Flatten(), nn.Linear(c_in * side * side, hidden), nn.BatchNorm1d(hidden, momentum=DAI_WIPF_BN_MOMENTUM),
             nn.LeakyReLU(0.2), nn.Linear(hidden, out)]  # fmt: skip
    return _dai_wipf_init(nn.Sequential(*mods))


def _infogan_decoder(layers: tuple[int, ...], latent: int) -> nn.Sequential:
    """The mirror, with ReLU and batch norm after every layer but the last (logits out)."""
    *channels, hidden = layers
    side = SIDE >> len(channels)
    rev = list(reversed(channels))
    bn = DAI_WIPF_BN_MOMENTUM
    mods: list[nn.Module] = [
        nn.Linear(latent, hidden), nn.BatchNorm1d(hidden, momentum=bn), nn.ReLU(),
        nn.Linear(hidden, rev[0] * side * side), nn.BatchNorm1d(rev[0] * side * side, momentum=bn), nn.ReLU(),
        nn.Unflatten(1, (rev[0], side, side)),
    ]  # fmt: skip
    for i, c in enumerate(rev):
        c_out = rev[i + 1] if i + 1 < len(rev) else 1
        mods.append(nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1))
        if c_out != 1:
            mods += [nn.BatchNorm2d(c_out, momentum=bn), nn.ReLU()]
    mods.append(nn.Flatten())
    return _dai_wipf_init(nn.Sequential(*mods))


def encoder(arch: str, layers: tuple[int, ...], out: int) -> nn.Module:
    """``[B, 784] -> [B, out]``; ``layers``: hidden units (dense), channels (conv), channels then the
    fully connected width (infogan)."""
    if arch == "dense":
        return mlp([PIXELS, *layers, out])
    if arch == "infogan":
        return _infogan_encoder(layers, out)
    mods: list[nn.Module] = [nn.Unflatten(1, (1, SIDE, SIDE))]
    c_in = 1
    for c in layers:  # each conv halves the side: 28 -> 14 -> 7
        mods += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.ReLU()]
        c_in = c
    side = SIDE >> len(layers)
    mods += [nn.Flatten(), nn.Linear(c_in * side * side, out)]
    return nn.Sequential(*mods)


def decoder(arch: str, layers: tuple[int, ...], latent: int) -> nn.Module:
    """``[B, latent] -> [B, 784]`` logits; the mirror of ``encoder``."""
    if arch == "dense":
        return mlp([latent, *reversed(layers), PIXELS])
    if arch == "infogan":
        return _infogan_decoder(layers, latent)
    side = SIDE >> len(layers)
    rev = list(reversed(layers))
    mods: list[nn.Module] = [
        nn.Linear(latent, rev[0] * side * side),
        nn.ReLU(),
        nn.Unflatten(1, (rev[0], side, side)),
    ]
    for i, c in enumerate(rev):
        c_out = rev[i + 1] if i + 1 < len(rev) else 1
        mods.append(nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1))
        if c_out != 1:
            mods.append(nn.ReLU())
    mods.append(nn.Flatten())
    return nn.Sequential(*mods)


class AE(nn.Module):
    kind = "ae"

    def __init__(self, arch: str, latent: int, layers: tuple[int, ...] = (512, 256)):
        super().__init__()
        self.latent = latent
        self.encoder = encoder(arch, layers, latent)
        self.decoder = decoder(arch, layers, latent)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic code of ``x``: ``[B, latent]``."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encoder(x)
        return {"logits": self.decoder(z), "z": z}


class VAE(nn.Module):
    kind = "vae"

    def __init__(self, arch: str, latent: int, layers: tuple[int, ...] = (512, 256), likelihood: str = "bernoulli"):
        super().__init__()
        self.latent = latent
        self.encoder = encoder(arch, layers, 2 * latent)  # mean and log-variance
        self.decoder = decoder(arch, layers, latent)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown decoder likelihood {likelihood!r}; one of {', '.join(LIKELIHOODS)}")
        if likelihood == "gaussian":  # Dai & Wipf's loggamma_x: one log standard deviation for every pixel, 0 at first
            self.log_gamma = nn.Parameter(torch.zeros(()))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z|x)``: mean and log-variance, each ``[B, latent]``."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean: ``[B, latent]``."""
        return self.posterior(x)[0]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # reparameterization trick
        out = {"logits": self.decoder(z), "z": z, "mu": mu, "logvar": logvar}
        if hasattr(self, "log_gamma"):
            out["log_gamma"] = self.log_gamma
        return out


def with_labels(x, y) -> np.ndarray:
    """``[N, 794]`` float32: images ``[N, 784]`` followed by their one-hot classes (the conditional VAE's datum)."""
    return np.concatenate([np.asarray(x, np.float32), np.eye(CLASSES, dtype=np.float32)[np.asarray(y)]], axis=1)


class CVAE(nn.Module):
    """The conditional VAE (Sohn et al., NeurIPS 2015), dense; ``layers``: the hidden units of the dense models.

    It trains through the study's own loop and loss: its datum is the image with its one-hot class appended
    (``with_labels``). Its encoder reads both; its decoder reads ``z`` and the class and returns the image's
    logits, followed by logits of +-``LABEL_LOGIT`` that reproduce the given class exactly, so the class
    columns add 0 nats (below float32's resolution) and the loss is the plain negative ELBO of ``p(x | z, y)``.
    """

    kind = "cvae"
    LABEL_LOGIT = 100.0  # BCE of a logit of 100 on its own label: log(1 + e^-100) = 4e-44 nats

    def __init__(self, arch: str, latent: int, layers: tuple[int, ...] = (512, 256), likelihood: str = "bernoulli"):
        super().__init__()
        if arch != "dense" or likelihood != "bernoulli":
            raise ValueError(f"the conditional VAE is dense and Bernoulli only (got {arch!r}, {likelihood!r})")
        self.latent = latent
        self.encoder = mlp([PIXELS + CLASSES, *layers, 2 * latent])
        self.decoder = mlp([latent + CLASSES, *reversed(layers), PIXELS])

    def posterior(self, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(xy).chunk(2, dim=1)
        return mu, logvar

    def embed(self, xy: torch.Tensor) -> torch.Tensor:
        """The posterior mean given image and class: ``[B, latent]``."""
        return self.posterior(xy)[0]

    def decode(self, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """Image logits ``[B, 784]`` of class ``onehot`` at codes ``z``."""
        return self.decoder(torch.cat([z, onehot], dim=1))

    def forward(self, xy: torch.Tensor) -> dict[str, torch.Tensor]:
        onehot = xy[:, PIXELS:]
        mu, logvar = self.posterior(xy)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = torch.cat([self.decode(z, onehot), self.LABEL_LOGIT * (2 * onehot - 1)], dim=1)
        return {"logits": logits, "z": z, "mu": mu, "logvar": logvar}


KINDS = {"ae": AE, "vae": VAE, "cvae": CVAE}  # a Spec's kind -> its class


@dataclass(frozen=True)
class Spec:
    """Everything that fixes a model's shape: what its checkpoint stores to rebuild it."""

    name: str  # one of NAMES
    kind: str  # a key of KINDS
    arch: str  # "dense", "conv" or "infogan"
    latent: int
    layers: tuple[int, ...]
    likelihood: str = "bernoulli"  # the decoder's, one of LIKELIHOODS (gaussian: a VAE only)

    def as_dict(self) -> dict:
        return {**asdict(self), "layers": list(self.layers)}

    @property
    def label(self) -> str:
        gamma = ", learned gamma" if self.likelihood == "gaussian" else ""
        return f"{self.kind.upper()} ({self.arch}, latent {self.latent}{gamma})"


def spec(name: str, p: Params) -> Spec:
    """The shape of study model ``name`` under params ``p``."""
    if name not in NAMES:
        raise ValueError(f"unknown model {name!r}; the study's models: {', '.join(NAMES)}")
    kind = name.split("_")[0]
    latent = p.latent_dim_2d if name.endswith("_2d") else p.latent_dim
    return Spec(name, kind, p.model.arch, latent, p.model.layers)


def build(s: Spec) -> AE | VAE | CVAE:
    if s.kind == "ae":
        if s.likelihood != "bernoulli":
            raise ValueError(f"the AE's decoder is Bernoulli only (got {s.likelihood!r})")
        return AE(s.arch, s.latent, tuple(s.layers))
    return KINDS[s.kind](s.arch, s.latent, tuple(s.layers), s.likelihood)


def run_from_argv(argv: list[str], p: Params, stage: str) -> tuple[Spec, int]:
    """``<model> <replicate>`` from a stage's command line, checked against the params."""
    from aevae.errors import StudyError

    usage = f"usage: python -m stages.{stage} {{{','.join(NAMES)}}} <replicate, one of {list(p.replicates)}>"
    if len(argv) != 2 or argv[0] not in NAMES or not argv[1].isdigit() or int(argv[1]) not in p.replicates:
        raise StudyError(f"{usage}; got {' '.join(argv) or 'no arguments'}")
    return spec(argv[0], p), int(argv[1])
