"""Every dashboard URL with hostile path parts, query strings and form fields.

No response may be a server error, and nothing that a request sent may come
back unescaped in an HTML page.
"""

import random
import re
from collections import Counter
from urllib.parse import quote, urlencode

import pytest
from django.contrib import admin
from django.test import Client
from django.utils.html import escape

from django_rq_lite import get_queue
from django_rq_lite.models import Queue as QueueModel
from tests.testapp import jobs

from .helpers import SIMPLE_WORKER

SEED = 20260105
REQUESTS_PER_PATTERN = 60
# 405 is the response to a GET on a URL that only takes POST.
ALLOWED_STATUS = {200, 302, 400, 403, 404, 405}

# Markup that must never come back as markup.
MARKUP = [
    '<script>alert("rq")</script>',
    '"><img src=x onerror=alert(1)>',
    "<b onmouseover='x'>bold</b>",
]
HOSTILE = [
    *MARKUP,
    "../",
    "../../etc/passwd",
    "..%2F..%2F",
    "%00",
    "\x00",
    "a\x00b",
    "x" * 5000,
    "' OR '1'='1",
    "1; DROP TABLE auth_user; --",
    "-1",
    "0",
    "99999999999999999999",
    "1e9",
    "NaN",
    "",
    " ",
    "\u202e\u0000\ufeff",
    "é🙂",
    "{{ 7|add:7 }}",
    "%s%s%n",
    "default",
    "failed",
    "finished",
    "queued",
    "started",
]
QUERY_KEYS = [
    "page",
    "per_page",
    "o",
    "q",
    "exc_class",
    "func",
    "queue",
    "sort",
    "status",
    "action",
    "select_across",
    "post",
    "_selected_action",
]
# Valid values for path parts, so that half of the requests get past the
# queue and list lookups to the code behind them.
VALID_PARTS = {
    "queue_name": ["default", "high"],
    "list_name": ["queued", "started", "finished", "failed", "deferred", "scheduled"],
    "action": ["requeue", "delete", "cancel", "enqueue", "stop"],
}
PATH_PARTS = re.compile(r"<(?:\w+:)?(\w+)>")


def seed_jobs():
    """Fill the queues with finished, failed and queued jobs with markup in them."""
    queue = get_queue("default")
    for text in MARKUP:
        queue.enqueue(jobs.fail, text)
        queue.enqueue(jobs.add, text, "!", description=text, meta={"note": text})
    return queue


def dashboard_routes():
    """Return (route, parameter names) of every dashboard URL pattern."""
    model_admin = admin.site._registry[QueueModel]
    routes = []
    for pattern in model_admin.get_urls():
        route = str(pattern.pattern)
        routes.append((route, PATH_PARTS.findall(route)))
    return routes


def build_path(route, values, quoted):
    """Fill the route's path parts with ``values``, percent-encoded or raw."""
    pieces = []
    position = 0
    for match in PATH_PARTS.finditer(route):
        value = values[match.group(1)]
        pieces.append(route[position : match.start()])
        pieces.append(quote(value, safe="") if quoted else value)
        position = match.end()
    pieces.append(route[position:])
    return "/admin/django_rq_lite/queue/" + "".join(pieces)


def random_part(rng, name, job_ids):
    valid = job_ids if name == "job_id" else VALID_PARTS.get(name, [])
    if valid and rng.random() < 0.5:
        return rng.choice(valid)
    return rng.choice(HOSTILE)


def random_fields(rng):
    keys = rng.sample(QUERY_KEYS, rng.randint(0, 4))
    return {key: rng.choice(HOSTILE) for key in keys}


def check_response(response, label):
    assert response.status_code in ALLOWED_STATUS, label
    if "html" not in response.get("Content-Type", ""):
        return
    body = response.content.decode(errors="replace")
    for markup in MARKUP:
        assert markup not in body, label


@pytest.mark.slow
@pytest.mark.django_db
def test_dashboard_fuzz_no_server_error(
    private_queues, workers, admin_user, reliability_stats
):
    seed_jobs()
    assert workers.run_burst(worker_class=SIMPLE_WORKER) == 0
    job_ids = get_queue("default").failed_job_registry.get_job_ids()
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    # The failed list shows the jobs' exceptions, so the markup is echoed
    # there, escaped, and check_response has something to find. The fuzz
    # below may requeue or delete these jobs, so this check comes first.
    failed_page = client.get("/admin/django_rq_lite/queue/default/failed/")
    assert escape(MARKUP[0]) in failed_page.content.decode()
    rng = random.Random(SEED)
    statuses = Counter()

    for route, names in dashboard_routes():
        for _ in range(REQUESTS_PER_PATTERN):
            values = {name: random_part(rng, name, job_ids) for name in names}
            path = build_path(route, values, quoted=rng.random() < 0.7)
            fields = random_fields(rng)
            if rng.random() < 0.5:
                label = f"GET {path!r} {fields!r}"
                response = client.get(f"{path}?{urlencode(fields)}")
            else:
                label = f"POST {path!r} {fields!r}"
                response = client.post(path, fields)
            statuses[response.status_code] += 1
            check_response(response, label)
            if response.status_code == 302:
                followed = client.get(response["Location"])
                check_response(followed, f"{label} then GET {response['Location']}")

    reliability_stats.record(dashboard_requests=sum(statuses.values()))
    print(f"Dashboard fuzz statuses: {dict(statuses)}")
    assert statuses[200] > 0
    assert statuses[302] > 0
    assert statuses[404] > 0
