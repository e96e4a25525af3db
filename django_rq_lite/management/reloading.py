"""Restart a worker when Python source changes, with Django's autoreloader.

Django's ``autoreload.run_with_reloader`` runs the program in a thread, but
an RQ worker installs signal handlers, which only the main thread may do.
So the child process here runs the worker in its main thread and the file
watcher in a thread. On a change the watcher sends the child SIGTERM, the
worker finishes its current job and stops, and the child exits with status
3, which makes the parent start a new child, as Django's reloader does.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading

from django.utils import autoreload

logger = logging.getLogger("django_rq_lite.worker")

RESTART_EXIT_CODE = 3


def run_with_reloader(main):
    """Run ``main()`` in a child process that restarts when source changes."""
    if os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) == "true":
        return run_child(main)
    sys.exit(supervise())


def supervise() -> int:
    """Start the child again each time it exits with status 3.

    SIGTERM is passed on to the child, so a process manager stops the
    worker warmly. SIGINT is ignored here because a terminal's Ctrl+C
    reaches the child too, and a second SIGINT would force it to stop.
    """
    arguments = autoreload.get_child_arguments()
    environment = {**os.environ, autoreload.DJANGO_AUTORELOAD_ENV: "true"}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    child = None
    forwarded = False
    sent = False

    def forward(signum, frame):
        nonlocal forwarded, sent
        forwarded = True
        if child is not None:
            sent = True
            child.send_signal(signum)

    # Installed before the child starts: a SIGTERM that came between the
    # start and the handler would end this process and leave the child.
    signal.signal(signal.SIGTERM, forward)
    while True:
        if forwarded:
            # SIGTERM came before a child started, or between two children.
            return 0
        child = None
        sent = False
        child = subprocess.Popen(arguments, env=environment)
        if forwarded and not sent:
            # SIGTERM came while Popen() started the child.
            sent = True
            child.send_signal(signal.SIGTERM)
        exit_code = child.wait()
        if exit_code == -signal.SIGTERM and forwarded:
            # The SIGTERM reached the child before its worker handled the
            # signal, so the child stopped at once, as requested.
            return 0
        if exit_code != RESTART_EXIT_CODE:
            return exit_code
        logger.info("Restarting the worker after a source change")


def run_child(main):
    reloader = autoreload.get_reloader()
    changed = threading.Event()

    def request_restart(sender, file_path, **kwargs):
        # A receiver that returns True marks the change as handled, so the
        # reloader does not call sys.exit(3), which would end only its thread.
        if not changed.is_set():
            changed.set()
            logger.info("Stopping the worker because a file changed path=%s", file_path)
            reloader.stop()
            os.kill(os.getpid(), signal.SIGTERM)
        return True

    autoreload.file_changed.connect(request_restart, sender=reloader, weak=False)
    watcher = threading.Thread(
        target=reloader.run,
        args=(threading.main_thread(),),
        name="rq-reloader",
        daemon=True,
    )
    watcher.start()
    result = main()
    if changed.is_set():
        sys.exit(RESTART_EXIT_CODE)
    return result
