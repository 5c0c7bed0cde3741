"""Compare freshly computed metrics with the committed baseline, within stated tolerances.

    dvc repro --force && python -m aevae.verify      # what `make verify` runs

Tolerances: on the same kind of CPU, with the pinned requirements, a re-run is bitwise identical
(and this says so). Across CPU kinds (other SIMD kernels, other summation order) and on GPUs
(cuDNN/cuBLAS kernels), training takes another numerical path and ends at a slightly different
model; the tolerances (``aevae.study.METRICS``) bound that drift, and are loose enough to hold it and tight enough
to catch a broken metric or a broken pipeline.
"""

from __future__ import annotations

import json
import subprocess
import sys

from aevae import paths
from aevae.study import METRICS


def compare(baseline: dict, new: dict) -> list[str]:
    """Human-readable failures; empty when every metric is within tolerance."""
    failures = []
    for key, (rel, abs_) in ((k, m.tolerance) for k, m in METRICS.items()):
        if key not in baseline:
            continue
        if key not in new:
            failures.append(f"{key}: missing from the new metrics")
            continue
        a, b = baseline[key], new[key]
        if abs(a - b) > max(abs_, rel * abs(a)):
            failures.append(f"{key}: {b!r} vs baseline {a!r} (allowed: rel {rel}, abs {abs_})")
    for key in ("fid_n", "fid_n_primary", "iw_samples", "interp_pairs_within", "interp_pairs_across"):
        if baseline.get(key) != new.get(key):
            failures.append(f"{key}: {new.get(key)} vs baseline {baseline.get(key)}: not comparable")
    return failures


def main() -> int:
    bad = 0
    for path in sorted(paths.RUNS.glob("*.json")):
        rel = path.relative_to(paths.ROOT).as_posix()
        committed = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=paths.ROOT, capture_output=True, text=True)
        if committed.returncode != 0:
            print(f"{rel}: no committed baseline ({committed.stderr.strip()})")
            return 2
        base, new = json.loads(committed.stdout), json.loads(path.read_text())
        if base == new:
            print(f"{rel}: identical to the committed baseline")
            continue
        failures = compare(base, new)
        print(f"{rel}: " + ("within tolerance" if not failures else "OUT OF TOLERANCE"))
        for f in failures:
            print(f"  {f}")
        bad += bool(failures)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
