"""Stage check of the campaign (campaign/dvc.yaml): both params files valid together, and every campaign output
replaceable, before DVC deletes any output. Every other campaign stage depends on this one's constant output, so a
bad value stops DVC first.

``--only-check``: the same checks, nothing written (what `make campaign` runs before DVC).
"""

from aevae import fileio
from aevae.campaign import config
from aevae.campaign.paths import HOLDERS, OUTPUTS, PATHS
from aevae.errors import cli, only_check


def main() -> None:
    check_only = only_check("campaign_check")
    config.load_checked()
    fileio.check_pipeline_outputs(OUTPUTS, HOLDERS)
    if not check_only:
        fileio.write_text(PATHS["params_ok"], "campaign/params.yaml is valid with params.yaml\n")


if __name__ == "__main__":
    cli(main)
