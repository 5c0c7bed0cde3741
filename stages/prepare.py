"""Stage prepare: normalize to [0, 1], flatten to 784, seeded validation split.

Reads: data/raw/, seed, data.subset, data.val_size.
Writes: data/prepared/{train,val,test}_{x,y}.npy (x: [N, 784] float32, y: [N] int64).
"""

import logging

from aevae import data, params, paths
from aevae.errors import cli


def main() -> None:
    p = params.load()
    splits = data.prepare(paths.RAW, p.data.val_size, p.data.subset, p.seed)
    data.write_prepared(paths.PREPARED, splits)
    for name, s in splits.items():
        logging.info("%s: %d images", name, len(s.x))


if __name__ == "__main__":
    cli(main)
