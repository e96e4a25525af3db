"""Modules loaded by a worker start: those a worker never uses stay unloaded."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The steps of "manage.py rqworker" before its first job: set-up, the
# command's import and the system checks with the command's tags.
WORKER_START = """
import json, sys
import django
django.setup()
from django.core import checks
from django_rq_lite.management.commands import rqworker
checks.run_checks(tags=rqworker.Command.requires_system_checks)
print(json.dumps(sorted(sys.modules)))
"""

# Each output line contains the check ids of one run with TASKS set.
CHECKS_WITH_TASKS = """
import django
django.setup()
from django.core import checks
from django.test import override_settings
backend = {"BACKEND": "django_rq_lite.tasks.RQBackend", "QUEUES": ["missing"]}
with override_settings(TASKS={"default": backend}):
    for _ in range(2):
        print(" ".join(message.id for message in checks.run_checks()))
"""

UNUSED_BY_WORKER = [
    "django_tasks",
    "django_rq_lite.admin.actions",
    "django_rq_lite.admin.periodic",
    "django_rq_lite.admin.views",
    "django_rq_lite.cron",
    "django_rq_lite.dashboard.actions",
    "django_rq_lite.dashboard.filters",
    "django_rq_lite.dashboard.index",
    "django_rq_lite.dashboard.jobs",
    "django_rq_lite.fastworker.pool",
    "django_rq_lite.management.reloading",
    "django_rq_lite.metrics",
    # FastWorker's channel and shared memory replace these.
    "multiprocessing.connection",
    "multiprocessing.sharedctypes",
]


def run_fresh(script: str) -> str:
    """Run ``script`` in a new interpreter with the test settings; return stdout."""
    # This test process has imported every module, so a new one is needed.
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.fixture(scope="module")
def worker_modules():
    """Return the modules that a fresh interpreter loads to start a worker."""
    return set(json.loads(run_fresh(WORKER_START)))


def test_worker_start_loads_command(worker_modules):
    assert "django_rq_lite.management.commands.rqworker" in worker_modules
    assert "django_rq_lite.admin.urls" in worker_modules


def test_worker_start_loads_job_decorator(worker_modules):
    # Forked work-horses inherit it, so task modules find it loaded.
    assert "django_rq_lite.decorators" in worker_modules


@pytest.mark.parametrize("module", UNUSED_BY_WORKER)
def test_worker_start_skips_module(worker_modules, module):
    assert module not in worker_modules


def test_task_checks_run_once_per_check_run():
    # The first run imports the Tasks framework, which registers its own
    # check too late for that run, and the second run calls that check.
    first, second = run_fresh(CHECKS_WITH_TASKS).splitlines()
    assert first.split().count("django_rq_lite.E015") == 1
    assert second.split().count("django_rq_lite.E015") == 1
