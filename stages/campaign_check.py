"""Stage check of the campaign (campaign/dvc.yaml): both params files valid together, and every campaign output
replaceable, before DVC deletes any output. Every other campaign stage depends on this one's constant output, so a
bad value stops DVC first.

``--only-check``: the same checks, nothing written (what `make campaign` runs before DVC).
"""

import sys

from aevae import fileio
from aevae.campaign import config
from aevae.campaign.paths import HOLDERS, OUTPUTS, PATHS
from aevae.errors import StudyError, cli


def main() -> None:
    args = sys.argv[1:]
    if args not in ([], ["--only-check"]):
        raise StudyError(f"usage: python -m stages.campaign_check [--only-check]; got {' '.join(args)}")
    config.load_checked()
    fileio.check_pipeline_outputs(OUTPUTS, HOLDERS)
    if not args:
        fileio.write_text(PATHS["params_ok"], "campaign/params.yaml is valid with params.yaml\n")


if __name__ == "__main__":
    cli(main)
