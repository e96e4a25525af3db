"""The README commands' bootstrap: Python version and venv checks."""

import importlib.util
import sys
from pathlib import Path

import pytest

BOOTSTRAP = Path(__file__).resolve().parent.parent / "example_project" / "bootstrap.py"


def load_bootstrap():
    spec = importlib.util.spec_from_file_location("rq_lite_bootstrap", BOOTSTRAP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_venv_module_names_package(monkeypatch, capsys):
    bootstrap = load_bootstrap()
    # A None entry makes the import fail, as on Debian without python3-venv.
    monkeypatch.setitem(sys.modules, "ensurepip", None)

    with pytest.raises(SystemExit) as raised:
        bootstrap.check_python()

    assert raised.value.code == 1
    message = capsys.readouterr().err
    assert "sudo apt-get install python3-venv" in message
    assert f"python{sys.version_info.major}.{sys.version_info.minor}-venv" in message


def test_old_python_is_rejected(monkeypatch, capsys):
    bootstrap = load_bootstrap()
    monkeypatch.setattr(bootstrap, "MIN_PYTHON", (99, 0))

    with pytest.raises(SystemExit):
        bootstrap.check_python()

    assert "needs Python 3.10 or newer" in capsys.readouterr().err


def test_current_python_passes():
    bootstrap = load_bootstrap()

    assert bootstrap.check_python() is None
