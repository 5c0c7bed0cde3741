"""Stage judge: the class judge, a small CNN trained on the real training images; its test accuracy and
calibration go to metrics/judge.json. What it reads and writes: dvc.yaml.
"""

import logging
import time

from aevae import data, fileio, judge, params, paths
from aevae.errors import cli
from aevae.runtime import stream


def main() -> None:
    p = params.load()
    t = time.perf_counter()
    tr, te = data.load_split("train"), data.load_split("test")
    seed = stream(p.seed, "judge").initial_seed() % 2**31  # a 31-bit int of the named stream
    net = judge.train(tr.x, tr.y, p.judge.epochs, seed)
    probs, _ = judge.read(net, te.x)
    out = {**judge.calibration(probs, te.y), "epochs": p.judge.epochs, "n_train": len(tr.y), "n_test": len(te.y)}
    fileio.save_torch(paths.JUDGE, net.state_dict())
    fileio.write_json(paths.JUDGE_METRICS, out)
    logging.info("judge: test accuracy %.4f, expected calibration error %.4f (%.0f s)", out["accuracy"], out["ece"],
                 time.perf_counter() - t)  # fmt: skip


if __name__ == "__main__":
    cli(main)
