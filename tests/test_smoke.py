import subprocess
import sys

from django_rq_lite import get_queue
from tests.testapp.jobs import add, high_job


def test_enqueue_and_burst_worker():
    job = get_queue().enqueue(add, 2, 3)
    high = high_job.delay(1)
    subprocess.run(
        [sys.executable, "-m", "django", "rqworker", "high", "default", "--burst"],
        check=True,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )
    assert job.latest_result().return_value == 5
    assert high.latest_result().return_value == 2
    assert high.result_ttl == 100
