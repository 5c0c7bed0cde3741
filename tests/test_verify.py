"""make verify's comparison: tolerances per metric, refusal to compare across sample sizes."""

from aevae import verify
from aevae.study import METRICS


def test_every_metric_allows_some_drift_and_none_is_negative():
    # a (0, 0) tolerance would fail every cross-machine comparison of that metric
    for key, m in METRICS.items():
        rel, abs_ = m.tolerance
        assert rel >= 0 and abs_ >= 0 and rel + abs_ > 0, key


def test_compare_within_and_beyond_tolerance():
    base = {"mse": 0.0100, "ssim": 0.80, "fid_samples": 50.0, "fid_n": 5000, "iw_samples": 1000}
    assert verify.compare(base, dict(base)) == []
    assert verify.compare(base, {**base, "mse": 0.0102, "ssim": 0.805, "fid_samples": 54.0}) == []  # 2%, 0.005, 8%
    failures = verify.compare(base, {**base, "mse": 0.0104, "ssim": 0.78, "fid_samples": 56.0})
    assert [f.split(":")[0] for f in failures] == ["mse", "ssim", "fid_samples"]
    assert "allowed: rel 0.03" in failures[0]


def test_compare_refuses_other_sample_sizes_and_missing_metrics():
    base = {"mse": 0.01, "fid_n": 5000, "iw_samples": 1000}
    failures = verify.compare(base, {"fid_n": 1000, "iw_samples": 1000})
    assert "mse: missing from the new metrics" in failures
    assert "fid_n: 1000 vs baseline 5000: not comparable" in failures
