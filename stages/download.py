"""Stage download: the four Fashion-MNIST IDX files, verified by MD5 of the decompressed bytes.

Reads: data.mirrors, data.local_dirs (tried in that order). Writes: data/raw/ (all four or none).
"""

from aevae import data, params, paths
from aevae.errors import cli


def main() -> None:
    p = params.load()
    data.download(paths.RAW, [*p.data.mirrors, *p.data.local_dirs])


if __name__ == "__main__":
    cli(main)
