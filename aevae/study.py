"""The study's vocabulary, stated once: the metrics (label, which way is better, what spread they
carry) that the report, the figures, ``verify`` and the campaign all read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    label: str
    higher_is_better: bool
    spread: str  # "seeds": sd across replicates; "bootstrap": `<key>_sd` over image resamples;
    #              "subsets": `<key>_sd` over KID's subsets; "binomial": sqrt(p(1-p)/n)
    tolerance: tuple[float, float]  # (relative, absolute): `make verify`'s allowed change on another machine
    vae_only: bool = False


METRICS: dict[str, Metric] = {
    "mse": Metric("MSE", False, "seeds", (0.03, 0.0)),
    "ssim": Metric("SSIM", True, "seeds", (0.0, 0.01)),
    "psnr": Metric("PSNR, dB", True, "seeds", (0.0, 0.2)),
    "sharpness": Metric("sharpness (gradient ratio to originals)", True, "seeds", (0.0, 0.02)),
    "fid_recon": Metric("FID of reconstructions", False, "bootstrap", (0.1, 1.0)),
    "fid_samples": Metric("FID of samples", False, "bootstrap", (0.1, 1.0)),
    "kid_samples": Metric("KID of samples (unbiased at any N)", False, "subsets", (0.2, 0.002)),
    "precision": Metric("precision of samples", True, "binomial", (0.0, 0.03)),
    "recall": Metric("recall of samples", True, "binomial", (0.0, 0.03)),
    "latent_acc": Metric("kNN accuracy on codes", True, "seeds", (0.0, 0.01)),
    "probe_acc": Metric("linear-probe accuracy on codes", True, "seeds", (0.0, 0.01)),
    "active_units": Metric("active units", True, "seeds", (0.0, 2.0)),
    "interp_evenness": Metric("path evenness (max/mean step)", False, "seeds", (0.05, 0.0)),
    "interp_precision": Metric("precision of interpolation midpoints", True, "binomial", (0.0, 0.05)),
    "elbo": Metric("ELBO, nats (Bernoulli cross-entropy bound)", True, "seeds", (0.01, 0.0), vae_only=True),
    "kl": Metric("KL to the prior, nats", False, "seeds", (0.05, 0.0), vae_only=True),
    "nll_iw": Metric("importance-weighted NLL, nats (cross-entropy bound)", False, "seeds", (0.01, 0.0), vae_only=True),
}
# how many images a binomial-spread metric averages over, by the key that records it
BINOMIAL_N = {"precision": "fid_n", "recall": "fid_n", "interp_precision": "interp_pairs"}
