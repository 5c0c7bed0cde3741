"""The study's vocabulary, stated once: the metrics (label, which way is better, what spread they
carry) that the report, the figures, ``verify`` and the campaign all read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    label: str
    higher_is_better: bool
    spread: str  # "seeds": sd across replicates; "bootstrap": `<key>_sd`; "binomial": sqrt(p(1-p)/n)
    vae_only: bool = False


METRICS: dict[str, Metric] = {
    "mse": Metric("MSE", False, "seeds"),
    "ssim": Metric("SSIM", True, "seeds"),
    "psnr": Metric("PSNR, dB", True, "seeds"),
    "sharpness": Metric("sharpness (gradient ratio to originals)", True, "seeds"),
    "fid_recon": Metric("FID of reconstructions", False, "bootstrap"),
    "fid_samples": Metric("FID of samples", False, "bootstrap"),
    "precision": Metric("precision of samples", True, "binomial"),
    "recall": Metric("recall of samples", True, "binomial"),
    "latent_acc": Metric("kNN accuracy on codes", True, "seeds"),
    "probe_acc": Metric("linear-probe accuracy on codes", True, "seeds"),
    "active_units": Metric("active units", True, "seeds"),
    "interp_evenness": Metric("path evenness (max/mean step)", False, "seeds"),
    "interp_precision": Metric("precision of interpolation midpoints", True, "binomial"),
    "elbo": Metric("ELBO, nats (Bernoulli cross-entropy bound)", True, "seeds", vae_only=True),
    "kl": Metric("KL to the prior, nats", False, "seeds", vae_only=True),
    "nll_iw": Metric("importance-weighted NLL, nats (cross-entropy bound)", False, "seeds", vae_only=True),
}
# how many images a binomial-spread metric averages over, by the key that records it
BINOMIAL_N = {"precision": "fid_n", "recall": "fid_n", "interp_precision": "interp_pairs"}
