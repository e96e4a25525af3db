"""Worker classes that make start-up races reproducible in tests."""

import os
import time
from pathlib import Path

from rq import Worker


class SlowStartWorker(Worker):
    """A worker that pauses after registering itself in Redis.

    It writes the file named by ``RQ_LITE_TEST_STARTED_FILE`` once it is
    registered, then waits, so a test can signal it before RQ's ``work()``
    installs its own signal handlers.
    """

    def register_birth(self) -> None:
        super().register_birth()
        Path(os.environ["RQ_LITE_TEST_STARTED_FILE"]).touch()
        time.sleep(2)
