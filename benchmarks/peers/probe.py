"""Measure one step inside a product's own environment and print JSON.

``run.py`` starts this script with the product's interpreter, its settings
and ``BENCH_REDIS_URL``. Usage: ``probe.py ACTION PRODUCT [COUNT]``, where
PRODUCT is ``lite``, ``djrq`` or ``celery``.
"""

import json
import os
import sys
import time

SETTINGS = {"lite": "lite_site.settings", "djrq": "djrq_site.settings"}
TASK_MODULES = {"lite": "lite_tasks", "djrq": "djrq_tasks", "celery": "celery_app"}


def setup_product(product):
    """Import and configure a product as its worker does before the first job."""
    if product == "celery":
        import celery_app
        from celery.apps.worker import Worker  # noqa: F401

        celery_app.app.loader.import_default_modules()
        return
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS[product]
    import django

    django.setup()
    from rq.worker import Worker  # noqa: F401

    if product == "lite":
        from django_rq_lite.management.commands import rqworker  # noqa: F401
    else:
        from django_rq.management.commands import rqworker  # noqa: F401


def get_tasks(product):
    setup_product(product)
    return __import__(TASK_MODULES[product])


def peak_rss_kib():
    """Return this process's peak resident set size (VmHWM) in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def enqueue_delay(product, count):
    tasks = get_tasks(product)
    tasks.noop.delay()  # Opens the connection outside the timed loop.
    started = time.perf_counter()
    for _ in range(count):
        tasks.noop.delay()
    return {"seconds": time.perf_counter() - started, "count": count}


def enqueue_bulk(product, count, job_name="noop"):
    """Enqueue ``count`` jobs of the task ``job_name`` through the bulk path."""
    tasks = get_orm_tasks(product) if job_name == "insert_row" else get_tasks(product)
    task = getattr(tasks, job_name)
    if product == "celery":
        from celery import group

        signatures = [task.s() for _ in range(count)]
        started = time.perf_counter()
        group(signatures).apply_async()
        return {"seconds": time.perf_counter() - started, "count": count}
    if product == "lite":
        # delay_many() builds RQ's enqueue data inside the timed call.
        calls = [((), {})] * count
        started = time.perf_counter()
        task.delay_many(calls)
        return {"seconds": time.perf_counter() - started, "count": count}
    from rq import Queue

    queue = get_djrq_queue()
    data = [Queue.prepare_data(task) for _ in range(count)]
    started = time.perf_counter()
    queue.enqueue_many(data)
    return {"seconds": time.perf_counter() - started, "count": count}


def get_orm_tasks(product):
    """Return the module of ``product``'s ORM job, with Django set up."""
    if product == "celery":
        import celery_django_app

        return celery_django_app
    return get_tasks(product)


def enqueue_orm_bulk(product, count):
    return enqueue_bulk(product, count, job_name="insert_row")


def migrate_file_database(product, _count):
    """Create the tables of ``BENCH_DB_PATH`` for the ORM job's site."""
    if product == "celery":
        os.environ["DJANGO_SETTINGS_MODULE"] = "celery_site.settings"
        import django

        django.setup()
    else:
        setup_product(product)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, run_syncdb=True)
    return {}


def get_djrq_queue():
    import django_rq

    return django_rq.get_queue("default")


def enqueue_sleep(product, seconds):
    get_tasks(product).sleep_job.delay(seconds)
    return {}


# Exception lines of the failed jobs, alternated, so a filter by one class
# selects half of the registry.
FAILED_EXCEPTIONS = ("ValueError: benchmark", "KeyError: 'benchmark'")
FILTER_CLASS = "KeyError"


def fill_failed(product, count):
    """Add ``count`` failed jobs to the default queue's failed registry.

    Both RQ products get the same job hashes and registry entries, written
    by RQ's own ``Job.save`` and ``FailedJobRegistry.add`` in pipelines of
    1,000 jobs. Half the jobs failed with ValueError and half with KeyError.
    For django-rq-lite each job is also indexed by ``record_failure``, the
    function that its workers call after a job fails.
    """
    import redis
    from rq import Queue
    from rq.job import Job, JobStatus
    from rq.registry import FailedJobRegistry

    record_failure = None
    if product == "lite":
        setup_product(product)
        from django_rq_lite.dashboard.index import record_failure

    connection = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    queue = Queue("default", connection=connection)
    registry = FailedJobRegistry(queue=queue)
    traces = [
        f"Traceback (most recent call last):\n{line}\n" for line in FAILED_EXCEPTIONS
    ]
    started = time.perf_counter()
    for first in range(0, count, 1000):
        with connection.pipeline() as pipe:
            for number in range(first, min(first + 1000, count)):
                exc_string = traces[number % len(traces)]
                job = Job.create(
                    "rq_jobs.count_done", connection=connection, origin="default"
                )
                job.set_status(JobStatus.FAILED, pipeline=pipe)
                registry.add(job, ttl=86400, exc_string=exc_string, pipeline=pipe)
                if record_failure is not None:
                    record_failure(pipe, job, exc_string)
            pipe.execute()
    return {"seconds": time.perf_counter() - started, "count": registry.count}


def admin_client(product):
    setup_product(product)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0, run_syncdb=True)
    user = get_user_model().objects.create_superuser("bench", "", "bench")
    client = Client()
    client.force_login(user)
    return client


def failed_urls(product):
    from django.urls import reverse

    if product == "lite":
        page = reverse("admin:django_rq_lite_queue_jobs", args=["default", "failed"])
        action = reverse("admin:django_rq_lite_queue_requeue_all", args=["default"])
    else:
        page = reverse("admin:django_rq_failed_jobs", args=[0])
        action = reverse("admin:django_rq_requeue_all", args=[0])
    return page, action


def time_request(method, url):
    started = time.perf_counter()
    response = method(url)
    seconds = time.perf_counter() - started
    if response.status_code not in (200, 302):
        raise SystemExit(f"{url} returned {response.status_code}, expected 200/302.")
    return seconds


def failed_page(product, repeat):
    """Time the failed-jobs page ``repeat`` times after one untimed request.

    For django-rq-lite each round also times the page filtered by exception
    class, and the number of jobs that each page lists is read afterwards.
    """
    client = admin_client(product)
    page, _ = failed_urls(product)
    urls = {"unfiltered": page}
    if product == "lite":
        urls["filtered"] = f"{page}?exc_class={FILTER_CLASS}"
    client.get(reverse_admin_index())
    for url in urls.values():
        time_request(client.get, url)
    timings = {name: [] for name in urls}
    for _ in range(repeat):
        for name, url in urls.items():
            timings[name].append(time_request(client.get, url))
    result = {
        "seconds": timings["unfiltered"],
        "filtered_seconds": timings.get("filtered", []),
        "peak_rss_kib": peak_rss_kib(),
    }
    if product == "lite":
        result["listed"] = count_listed(client, urls)
    return result


def count_listed(client, urls):
    """Return how many jobs each page lists, from the admin's template context."""
    from django.test.utils import setup_test_environment

    # The test client records template contexts only in a test environment.
    setup_test_environment()
    listed = {}
    for name, url in urls.items():
        context = client.get(url).context
        listed[name] = context["page"].paginator.count if context else None
    return listed


def reverse_admin_index():
    from django.urls import reverse

    return reverse("admin:index")


def requeue_all(product, _count):
    """Post "requeue all" once, then count the jobs left in the registry."""
    client = admin_client(product)
    page, action = failed_urls(product)
    client.get(reverse_admin_index())
    seconds = time_request(client.post, action)
    from rq import Queue
    from rq.registry import FailedJobRegistry

    queue = Queue("default", connection=connect())
    return {
        "seconds": seconds,
        "peak_rss_kib": peak_rss_kib(),
        "left_failed": FailedJobRegistry(queue=queue).count,
        "queued": queue.count,
    }


def connect():
    import redis

    return redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])


ACTIONS = {
    "setup": lambda product, _count: setup_product(product) or {},
    "delay": enqueue_delay,
    "bulk": enqueue_bulk,
    "bulk_orm": enqueue_orm_bulk,
    "migrate": migrate_file_database,
    "sleep": enqueue_sleep,
    "fill": fill_failed,
    "page": failed_page,
    "requeue": requeue_all,
}


def main():
    action, product = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    result = ACTIONS[action](product, count)
    sys.stdout.write("BENCH-RESULT " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
