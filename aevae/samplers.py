"""The study's samplers: the code distributions each kind of model is decoded from (``SAMPLERS``).

A VAE is sampled from its prior; a deterministic AE has no prior, so it is sampled from a density
fitted to its training codes. A VAE's aggregate posterior is not its prior N(0, I) either (the "holes"
Dai & Wipf 2019 and Ghosh et al. 2020 point at), so both kinds are also sampled from a mixture fitted to
where the codes actually are (``gmm``, as Ghosh et al., ICLR 2020). Codes are the posterior means for
a VAE (the AE's codes for the AE). The campaign adds Dai & Wipf's second stage
(``aevae.campaign.two_stage``).

Each sampler draws from its own named stream (``runtime.stream``), shared by every model and replicate.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from aevae import metrics
from aevae.params import Params
from aevae.runtime import int_seed, stream

# ``SAMPLERS[kind]``: the code distributions each kind of model is sampled from; the first is its main one
SAMPLERS = {
    "ae": {"gaussian": "a Gaussian (full covariance) fitted to the training codes",
           "normal": "N(0, I), the naive choice (what a VAE's prior would be)",
           "gmm": "a mixture of full-covariance Gaussians fitted to the training codes"},
    "vae": {"normal": "the prior N(0, I)",
            "gmm": "a mixture of full-covariance Gaussians fitted to the training posterior means"},
}  # fmt: skip


def gmm(z_train: np.ndarray, n: int, components: int, seed: int) -> np.ndarray:
    """``[n, D]`` codes from a ``components``-Gaussian mixture (full covariance) fitted to ``z_train``.

    scikit-learn returns the samples grouped by component; they are shuffled, so any prefix (a figure's
    first 64) is a fair draw."""
    with threadpool_limits(1):  # scikit-learn's BLAS threads oversubscribe this 2-core machine
        mix = GaussianMixture(components, covariance_type="full", random_state=int_seed(seed, "gmm fit"))
        mix.fit(np.asarray(z_train, np.float64))
        mix.random_state = np.random.RandomState(int_seed(seed, "gmm samples"))
        z, _ = mix.sample(n)
    order = np.random.default_rng(int_seed(seed, "gmm order")).permutation(n)
    return z[order].astype(np.float32)


def sample_latents(sampler: str, z_train: np.ndarray, n: int, p: Params) -> np.ndarray:
    """``[n, D]`` codes to decode from ``sampler`` (a key of ``SAMPLERS``), fitted to the training codes
    ``z_train`` where it is fitted; each sampler draws from its own stream, shared by every model."""
    g = stream(p.seed, f"samples {sampler}")
    d = z_train.shape[1]
    if sampler == "normal":
        return torch.randn((n, d), generator=g).numpy()
    if sampler == "gaussian":
        mean, chol = metrics.fit_gaussian(z_train)
        eps = torch.randn((n, d), generator=g, dtype=torch.float64).numpy()
        return (mean + eps @ chol.T).astype(np.float32)
    if sampler == "gmm":
        return gmm(z_train, n, p.evaluate.gmm_components, p.seed)
    raise ValueError(f"unknown sampler {sampler!r}; one of {', '.join(SAMPLERS['ae'])}")
