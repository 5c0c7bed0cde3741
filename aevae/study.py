"""The study's vocabulary, stated once: the metrics (label, which way is better, what spread they
carry) that the report, the figures, ``verify`` and the campaign all read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    label: str
    higher_is_better: bool
    spread: str  # "seeds": sd across replicates (every run has the number); "subsets": `<key>_sd` over KID's
    #              subsets, primary run only; "binomial": sqrt(p(1-p)/n), primary run only
    tolerance: tuple[float, float]  # (relative, absolute): `make verify`'s allowed change on another machine
    vae_only: bool = False
    target: float | None = None  # the ideal value when neither direction is better (sharpness: 1)

    @property
    def better(self) -> str:
        if self.target is not None:
            return f"closer to {self.target:g} is better"
        return "higher is better" if self.higher_is_better else "lower is better"


# the samplers a model's codes are drawn from (aevae.samplers.SAMPLERS says which kind has which)
SAMPLER_LABELS = {"normal": "N(0, I)", "gaussian": "fitted Gaussian", "gmm": "Gaussian mixture"}

METRICS: dict[str, Metric] = {
    "mse": Metric("MSE", False, "seeds", (0.03, 0.0)),
    "ssim": Metric("SSIM", True, "seeds", (0.0, 0.01)),
    "psnr": Metric("PSNR, dB", True, "seeds", (0.0, 0.2)),
    "sharpness": Metric("sharpness (gradient ratio to originals)", True, "seeds", (0.0, 0.02), target=1.0),
    "fid_recon": Metric("FID of reconstructions", False, "seeds", (0.1, 1.0)),
    "kid_recon": Metric("KID of reconstructions", False, "seeds", (0.2, 0.002)),
    **{
        f"{m}_{s}": Metric(f"{label} of samples, {slabel}", hib, "seeds", tol)
        for s, slabel in SAMPLER_LABELS.items()
        for m, label, hib, tol in (
            ("fid", "FID", False, (0.1, 1.0)),
            ("kid", "KID", False, (0.2, 0.002)),
            ("precision", "precision", True, (0.0, 0.03)),
            ("recall", "recall", True, (0.0, 0.03)),
        )
    },
    # the primary run's main sampler at evaluate.fid_samples images: the figures' numbers
    "fid_samples": Metric("FID of samples, main sampler, primary run", False, "none", (0.1, 1.0)),
    "kid_samples": Metric("KID of samples, main sampler, primary run", False, "subsets", (0.2, 0.002)),
    "precision": Metric("precision of samples, main sampler, primary run", True, "binomial", (0.0, 0.03)),
    "recall": Metric("recall of samples, main sampler, primary run", True, "binomial", (0.0, 0.03)),
    "latent_acc": Metric("kNN accuracy on codes", True, "seeds", (0.0, 0.01)),
    "knn_group": Metric("kNN errors within the true class's group (share)", True, "seeds", (0.0, 0.02)),
    "probe_acc": Metric("linear-probe accuracy on codes", True, "seeds", (0.0, 0.01)),
    "active_units": Metric("active units", True, "seeds", (0.0, 2.0)),
    **{
        f"path_{m}_{kind}": Metric(f"{label}, paths {where}", hib, "seeds", tol)
        for kind, where in (("within", "within a group"), ("across", "across groups"))
        for m, label, hib, tol in (
            ("ab", "judged only A or B (share of paths with ends read right)", True, (0.0, 0.05)),
            ("confidence", "judge's confidence inside over at the ends (realism)", True, (0.0, 0.03)),
            ("evenness", "evenness in judge features (max/mean step)", False, (0.1, 0.0)),
        )
    },
    "elbo": Metric("ELBO, nats (Bernoulli cross-entropy bound)", True, "seeds", (0.01, 0.0), vae_only=True),
    "kl": Metric("KL to the prior, nats", False, "seeds", (0.05, 0.0), vae_only=True),
    "nll_iw": Metric("importance-weighted NLL, nats (cross-entropy bound)", False, "seeds", (0.01, 0.0), vae_only=True),
}  # fmt: skip
# how many images a binomial-spread metric averages over, by the key that records it
BINOMIAL_N = {"precision": "fid_n_primary", "recall": "fid_n_primary"}
