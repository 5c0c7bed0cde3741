"""Stage judge: the class judge, a small CNN trained on the real training images; its test accuracy and
calibration go to metrics/judge.json. What it reads and writes: dvc.yaml.
"""

import logging
import time

from aevae import data, fileio, judge, params, paths
from aevae.errors import cli
from aevae.runtime import int_seed


def main() -> None:
    p = params.load()
    fileio.check_outputs(paths.JUDGE, paths.JUDGE_METRICS)  # before the work, not after it
    t = time.perf_counter()
    tr, te = data.load_split("train"), data.load_split("test")
    net = judge.train(tr.x, tr.y, p.judge.epochs, int_seed(p.seed, "judge"))
    probs, _ = judge.read(net, te.x)
    out = {**judge.calibration(probs, te.y), "epochs": p.judge.epochs, "n_train": len(tr.y), "n_test": len(te.y)}
    with fileio.atomic_outputs(files=(paths.JUDGE, paths.JUDGE_METRICS)) as ([net_tmp, metrics_tmp], _):
        net_tmp.write_bytes(fileio.torch_bytes(net.state_dict()))
        fileio.dump_json(metrics_tmp, out)
    logging.info("judge: test accuracy %.4f, expected calibration error %.4f (%.0f s)", out["accuracy"], out["ece"],
                 time.perf_counter() - t)  # fmt: skip


if __name__ == "__main__":
    cli(main)
