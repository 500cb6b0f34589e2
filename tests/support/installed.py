"""The suite runs against what is installed: the service's own gateways and the example third-party gateway.

Gateways are found through the `billing.gateways` entry points, which live in the installed metadata; a venv
made before a gateway was declared does not see it, so the session installs what is missing first.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = "cash"
"""A built-in gateway: when its entry point is missing, the service's metadata is older than pyproject.toml."""
EXAMPLE = "bank_transfer"
EXAMPLE_PROJECT = ROOT / "examples" / "gateways" / "bank_transfer"
"""The third-party gateway the suite drives end to end (`make install-dev` installs it editable)."""


def _declared() -> set[str]:
    return {point.name for point in entry_points(group="billing.gateways")}


def _pip_install(*arguments: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *arguments],
        check=True,
        capture_output=True,
    )
    importlib.invalidate_caches()


def ensure_gateways_installed() -> None:
    if BUILT_IN not in _declared():
        _pip_install("-e", str(ROOT))
    if EXAMPLE not in _declared():
        # Not editable: an editable install is importable only in interpreters started after it, not this one.
        _pip_install(str(EXAMPLE_PROJECT))
