"""Stage check_params: validate params.yaml before any other stage touches its outputs.

Reads: params.yaml (all keys). Writes: data/params.ok (constant content, so a valid change of
params re-runs only the stages that read the changed keys).
DVC deletes a stage's outputs before running it; every stage depends on this one, so invalid
params stop `dvc repro` here, with every earlier output intact.
"""

from aevae import fileio, params, paths
from aevae.errors import cli


def main() -> None:
    params.load()
    fileio.write_text(paths.PARAMS_OK, "params.yaml is valid\n")


if __name__ == "__main__":
    cli(main)
