"""Create the project's virtual environment and install the package into it.

Used by the README's two commands (``python3 example_project/demo.py`` and
``python3 tests/run.py``), so it needs nothing but the standard library and
runs on the system Python 3.10 or newer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
VENV_DIR = Path(os.environ.get("RQ_LITE_VENV", REPO_DIR / ".venv"))
MIN_PYTHON = (3, 10)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def check_python() -> None:
    if sys.version_info < MIN_PYTHON:
        fail(
            f"Python {sys.version.split()[0]} is too old: django-rq-lite needs "
            "Python 3.10 or newer. Run this script with python3.10 or later."
        )
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        fail(
            "Python's venv module is missing. On Debian or Ubuntu install it "
            f"with: sudo apt-get install python3-venv (or python{version}-venv), "
            "then run this command again."
        )


def venv_python() -> Path:
    return VENV_DIR / "bin" / "python"


def ensure_venv(extras: str) -> Path:
    """Create the virtual environment if needed, install ``.[extras]``, and
    return its Python interpreter."""
    check_python()
    python = venv_python()
    if not python.exists():
        print(f"Creating a virtual environment in {VENV_DIR}")
        run([sys.executable, "-m", "venv", str(VENV_DIR)])
    marker = VENV_DIR / f".installed-{extras.replace(',', '-')}"
    if not _is_current(marker):
        print(f"Installing django-rq-lite[{extras}] into {VENV_DIR}")
        run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
        run(
            [str(python), "-m", "pip", "install", "--quiet", "-e",
             f"{REPO_DIR}[{extras}]"]
        )  # fmt: skip
        marker.write_text("installed\n")
    return python


def _is_current(marker: Path) -> bool:
    """Tell whether the install marker is newer than the packaging files."""
    if not marker.exists():
        return False
    stamp = marker.stat().st_mtime
    return all(
        (REPO_DIR / name).stat().st_mtime <= stamp
        for name in ("setup.cfg", "pyproject.toml")
    )


def run(command: list[str], **kwargs) -> None:
    completed = subprocess.run(command, check=False, **kwargs)
    if completed.returncode != 0:
        fail(f"{' '.join(command)} failed with exit code {completed.returncode}.")
