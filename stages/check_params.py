"""Stage check_params: validate params.yaml before any other stage touches its outputs.

Reads: params.yaml (all keys). Writes: data/params.ok (constant content, so a valid change of
params re-runs only the stages that read the changed keys).
DVC deletes a stage's outputs before running it; every stage depends on this one, so invalid
params, or outputs that cannot be replaced (a read-only, immutable or symlinked folder), stop
`dvc repro` here, with every earlier output intact.

``--only-check``: the same checks, nothing written: what `make repro` runs before DVC, which refuses a missing,
empty or broken params.yaml with its own words before any stage can speak.
"""

from aevae import fileio, params, paths
from aevae.errors import cli, only_check


def main() -> None:
    check_only = only_check("check_params")
    params.load()
    fileio.check_pipeline_outputs(paths.OUTPUTS, paths.HOLDERS)
    if not check_only:
        fileio.write_text(paths.PARAMS_OK, "params.yaml is valid\n")


if __name__ == "__main__":
    cli(main)
