"""Versions of the software a study ran with, for the ``versions`` entry of the results."""

from __future__ import annotations

import platform
from importlib import metadata

# Distributions whose versions matter for reproducing numbers.
PACKAGES = ("torch", "numpy", "scipy", "matplotlib")


def versions() -> dict[str, str]:
    """``{"mechequiv", "python", "platform", "torch", "numpy", ...}`` as strings.

    Read from package metadata, so nothing heavy is imported; a package that is not installed
    reads "not installed".
    """
    from mechequiv import __version__

    out = {
        "mechequiv": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
