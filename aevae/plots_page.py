"""An offline page template for `dvc plots show` / `dvc plots diff`.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so offline its charts stay
blank. This builds `.dvc/plots_template.html` with those three libraries inlined (the exact
versions DVC's renderer targets, fetched as npm packages with `npm pack`); `.dvc/config` points
`plots.html_template` at it. Without npm it writes DVC's CDN page instead, and says so.

    python -m aevae.plots_page        # run by `make install`
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from aevae import fileio, paths

log = logging.getLogger(__name__)
# the versions dvc-render's VegaRenderer.SCRIPTS loads
PACKAGES = {
    "vega@5.20.2": "vega.min.js",
    "vega-lite@5.2.0": "vega-lite.min.js",
    "vega-embed@6.18.2": "vega-embed.min.js",
}
TEMPLATE = paths.ROOT / ".dvc" / "plots_template.html"
PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>AE vs VAE: DVC plots</title>
    %s
    <style>
        body { font-family: sans-serif; }
        table { border-spacing: 15px; }
        img { max-width: 100%%; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def fetch_scripts(workdir: Path) -> list[str]:
    """The three minified bundles, from `npm pack` tarballs (no dependency resolution needed)."""
    subprocess.run(["npm", "pack", "--silent", *PACKAGES], cwd=workdir, check=True, capture_output=True)
    scripts = []
    for spec, bundle in PACKAGES.items():
        name, version = spec.rsplit("@", 1)
        with tarfile.open(workdir / f"{name}-{version}.tgz") as tar:
            js = tar.extractfile(f"package/build/{bundle}").read().decode()
        if "</script" in js or any(f"{{{p}}}" in js for p in ("plot_divs", "scripts", "refresh_tag")):
            raise ValueError(f"{bundle} cannot be inlined safely")
        scripts.append(f"<script>/* {spec} */\n{js}\n</script>")
    return scripts


def build(dest: Path = TEMPLATE) -> bool:
    """Write the page template; True when the libraries are inlined (works offline)."""
    if shutil.which("npm"):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                fileio.write_text(dest, PAGE % "\n".join(fetch_scripts(Path(tmp))))
                return True
            except (subprocess.CalledProcessError, OSError, KeyError, ValueError) as e:
                log.warning("could not fetch vega with npm (%s)", e)
    log.warning("%s loads vega from a CDN: `dvc plots show` pages need the internet to draw charts", dest)
    fileio.write_text(dest, PAGE % "{scripts}")
    return False


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(f"{TEMPLATE}: vega inlined" if build() else f"{TEMPLATE}: CDN fallback")
