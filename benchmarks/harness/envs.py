"""Virtual environments of the products and the commands that run them."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / "peers"
ENVS_DIR = BENCH_DIR / ".envs"
PROBE = str(PEERS_DIR / "probe.py")

# Requirements of each peer's environment. Both get Django, pinned to the
# series that django-rq-lite's own environment runs (read at run time),
# because Celery's ORM job sets up Django too.
PEER_REQUIREMENTS = {
    "django-rq": ["django-rq==4.2.*"],
    "celery": ["celery[redis]==5.7.*"],
}
# django-rq-lite's environment contains this checkout, installed by pip:
# see ensure_lite_env().
LITE_ENV = "django-rq-lite"
REQUIREMENTS = {**PEER_REQUIREMENTS, LITE_ENV: [str(REPO_DIR)]}
INSTALL_TIMEOUT = 600
FAST_WORKER_CLASS = "django_rq_lite.fastworker.FastWorker"


@dataclass
class Product:
    """One measured product: its name, interpreter and worker commands."""

    key: str
    label: str
    python: str
    workers: dict[str, list[str]] = field(default_factory=dict)
    version: str = ""

    def env(self, redis_url: str) -> dict[str, str]:
        environ = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "REDIS_", "RQ_", "CELERY_"))
        }
        environ.update(BENCH_REDIS_URL=redis_url, PYTHONPATH=str(PEERS_DIR))
        settings = {"lite": "lite_site.settings", "djrq": "djrq_site.settings"}
        if self.key in settings:
            environ["DJANGO_SETTINGS_MODULE"] = settings[self.key]
        return environ


def django_series() -> str:
    import django

    major, minor = django.VERSION[:2]
    return f"{major}.{minor}"


@contextmanager
def env_lock(name: str) -> Iterator[None]:
    """Hold the exclusive lock on ``.envs/NAME.lock`` while the block runs.

    The lock keeps concurrent runs from changing the same environment at
    once, which breaks it.
    """
    ENVS_DIR.mkdir(parents=True, exist_ok=True)
    with open(ENVS_DIR / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_env(name: str, log) -> Path:
    """Create the environment ``name`` under ``.envs`` unless it has its packages."""
    with env_lock(name):
        return build_env(name, log)


def build_env(name: str, log) -> Path:
    path = ENVS_DIR / name
    python = path / "bin" / "python"
    requirements = [*REQUIREMENTS[name], "psutil", f"Django=={django_series()}.*"]
    marker = path / ".requirements"
    expected = "\n".join(requirements)
    complete = env_is_complete(path)
    if complete and marker.read_text() == expected:
        return python
    marker.unlink(missing_ok=True)
    if complete:
        # pip adds or changes packages in place, so a run that uses the
        # environment meanwhile keeps a working interpreter.
        log(f"Updating {path} to {' '.join(requirements)} (pip)")
    else:
        log(f"Creating {path} with {' '.join(requirements)} (pip, a few minutes)")
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *requirements],
        check=True,
        timeout=INSTALL_TIMEOUT,
    )
    marker.write_text(expected)
    return python


def ensure_lite_env(log) -> Path:
    """Create django-rq-lite's environment if needed, and install this checkout.

    pip installs the checkout as a user installs a release, with bytecode
    for every module. An editable install instead loads an import hook in
    every process: on the development machine, ``python -c pass`` took
    25 ms with it and 13 ms in the django-rq environment. The checkout is
    installed again on every run, so each run measures the current code.
    """
    with env_lock(LITE_ENV):
        python = build_env(LITE_ENV, log)
        log(f"Installing {REPO_DIR} into {python.parent.parent} (pip)")
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--no-deps"]
            + ["--force-reinstall", str(REPO_DIR)],
            check=True,
            timeout=INSTALL_TIMEOUT,
        )
    return python


def compile_peer_modules(log) -> None:
    """Write the bytecode of the modules in ``peers/``, which every product imports.

    pip does not install these modules, so it does not compile them. Where
    PYTHONDONTWRITEBYTECODE is set, each process would compile them again.
    """
    log(f"Writing the bytecode of {PEERS_DIR} (compileall)")
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(PEERS_DIR)],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=INSTALL_TIMEOUT,
    )


def env_is_complete(path: Path) -> bool:
    """Return whether ``path`` has an interpreter and a requirements marker."""
    python = path / "bin" / "python"
    if not (python.exists() and (path / "pyvenv.cfg").exists()):
        return False
    return (path / ".requirements").exists()


def package_version(python: Path | str, package: str) -> str:
    completed = subprocess.run(
        [
            str(python),
            "-c",
            f"import importlib.metadata as m; print(m.version({package!r}))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return completed.stdout.strip() or "unknown"


def build_products(log) -> dict[str, Product]:
    """Return the three products, creating their environments if needed."""
    compile_peer_modules(log)
    lite_python = str(ensure_lite_env(log))
    djrq_python = str(ensure_env("django-rq", log))
    celery_python = ensure_env("celery", log)
    celery_bin = str(celery_python.parent / "celery")

    # Every worker logs warnings and errors only, as Celery's "-l warning"
    # does; at INFO, RQ's workers format and write lines for every job.
    manage = ["-m", "django", "rqworker", "default"]
    lite_manage = [*manage, "--logging-level", "WARNING"]
    djrq_manage = [*manage, "--verbosity", "0"]
    celery_worker = [celery_bin, "-A", "celery_app", "worker", "-l", "warning"]
    celery_orm_worker = [
        celery_bin,
        "-A",
        "celery_django_app",
        "worker",
        "-l",
        "warning",
    ]
    prefork = ["--pool", "prefork", "--concurrency", "1"]
    fast = [lite_python, *lite_manage, "--worker-class", FAST_WORKER_CLASS]
    lite = Product(
        "lite",
        "django-rq-lite",
        lite_python,
        workers={
            "default": [lite_python, *lite_manage],
            "fork": [lite_python, *lite_manage, "--worker-class", "rq.Worker"],
            "nofork": [
                lite_python,
                *lite_manage,
                "--worker-class",
                "rq.SimpleWorker",
            ],
            "fast": fast,
            "two": [*fast, "--processes", "2"],
            "orm": fast,
        },
    )
    djrq_fork = [djrq_python, *djrq_manage, "--worker-class", "rq.Worker"]
    djrq = Product(
        "djrq",
        "django-rq",
        djrq_python,
        workers={
            "default": [djrq_python, *djrq_manage],
            "fork": djrq_fork,
            "nofork": [
                djrq_python, *djrq_manage, "--worker-class", "rq.SimpleWorker",
            ],
            "two": [
                djrq_python, "-m", "django", "rqworker-pool", "default",
                "--num-workers", "2", "--verbosity", "0",
            ],
            "orm": djrq_fork,
        },
    )  # fmt: skip
    celery = Product(
        "celery",
        "Celery",
        str(celery_python),
        workers={
            "default": [*celery_worker, *prefork],
            "fork": [*celery_worker, *prefork],
            "nofork": [*celery_worker, "--pool", "solo"],
            "two": [*celery_worker, "--pool", "prefork", "--concurrency", "2"],
            "orm": [*celery_orm_worker, *prefork],
            "orm_solo": [*celery_orm_worker, "--pool", "solo"],
        },
    )

    lite.version = package_version(lite_python, "django-rq-lite")
    djrq.version = package_version(djrq_python, "django-rq")
    celery.version = package_version(celery_python, "celery")
    return {product.key: product for product in (lite, djrq, celery)}


def versions_line(products: dict[str, Product]) -> str:
    """Describe the versions of the products and the libraries under them."""
    lite, djrq, celery = products["lite"], products["djrq"], products["celery"]
    return (
        f"django-rq-lite {lite.version} (RQ {package_version(lite.python, 'rq')}, "
        f"Django {package_version(lite.python, 'Django')}); "
        f"django-rq {djrq.version} (RQ {package_version(djrq.python, 'rq')}, "
        f"Django {package_version(djrq.python, 'Django')}); "
        f"Celery {celery.version} (kombu {package_version(celery.python, 'kombu')}, "
        f"redis-py {package_version(celery.python, 'redis')}); "
        f"Python {sys.version.split()[0]}"
    )
