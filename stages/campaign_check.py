"""Stage check of the campaign (campaign/dvc.yaml): both params files valid together, before DVC deletes any
output. Every other campaign stage depends on this one's constant output, so a bad value stops DVC first.
"""

from aevae import fileio
from aevae.campaign import config
from aevae.campaign.paths import PATHS
from aevae.errors import cli


def main() -> None:
    config.load_checked()
    fileio.write_text(PATHS["params_ok"], "campaign/params.yaml is valid with params.yaml\n")


if __name__ == "__main__":
    cli(main)
