"""Dashboard views that change jobs or queues.

Every view here accepts only POST, except the confirmation pages, which a GET
shows without changing anything. ``wrap_view`` has checked the "change"
permission for the URLs that point here, and ``list_action`` checks it
itself because its URL is also the job list page.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError

from ..dashboard.actions import (
    LIST_ACTIONS,
    ActionCounts,
    count_matching,
    empty_queue,
    run_action,
    run_action_on_all,
    stop_job,
)
from ..dashboard.jobs import JobNotFound, get_job_detail
from ..dashboard.queues import FAILED, STARTED, contains_job, count_jobs
from ..models import Queue as QueueModel
from .forms import ActionForm
from .messages import PAST_TENSE, report_counts
from .views import (
    check_list_name,
    filter_query_string,
    get_queue_or_404,
    parse_list_query,
    render,
)

if TYPE_CHECKING:
    from .options import QueueAdmin

# The verbs that messages, log entries and confirmation pages use.
ACTION_VERBS = {
    "requeue": "requeue",
    "delete": "delete",
    "cancel": "cancel",
    "enqueue": "enqueue now",
}

# The actions that the job page offers, in the URL's spelling.
JOB_ACTIONS = ("requeue", "delete", "cancel", "enqueue", "stop")


def log_action(
    request: HttpRequest, model_admin: QueueAdmin, queue_name: str, message: str
) -> None:
    """Record ``message`` in the admin log, on the queue, as the request's user."""
    model_admin.log_change(request, QueueModel(name=queue_name), message)


def list_url(model_admin: QueueAdmin, queue_name: str, list_name: str, query=None):
    url = model_admin.reverse("jobs", queue_name, list_name)
    filters = filter_query_string(query) if query else ""
    return f"{url}?{filters}" if filters else url


def list_action(
    request: HttpRequest, model_admin: QueueAdmin, queue: Queue, list_name: str
) -> HttpResponse:
    """Confirm, then run, a bulk action posted from a job list's actions bar."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    form = ActionForm(request.POST)
    query = parse_list_query(request, model_admin)
    back = list_url(model_admin, queue.name, list_name, query)
    if (
        not form.is_valid()
        or form.cleaned_data["action"] not in LIST_ACTIONS[list_name]
    ):
        messages.warning(request, "Choose an action that applies to these jobs.")
        return HttpResponseRedirect(back)
    action = form.cleaned_data["action"]
    select_across = form.cleaned_data["select_across"]
    if not select_across and not form.selected_ids:
        messages.warning(
            request,
            "Items must be selected in order to perform actions on them. "
            "No items have been changed.",
        )
        return HttpResponseRedirect(back)

    if form.cleaned_data["post"] != "yes":
        if select_across:
            count = count_for(queue, list_name, query)
        else:
            count = len(form.selected_ids)
        return render_confirmation(
            request,
            model_admin,
            queue.name,
            list_name,
            action,
            count,
            selected_ids=form.selected_ids,
            select_across=select_across,
        )

    if select_across:
        counts = run_action_on_all(queue, list_name, action, query["job_filter"])
        scope = "all matching" if query["job_filter"] else "all"
    else:
        counts = run_action(queue, list_name, action, form.selected_ids)
        scope = "selected"
    finish_action(request, model_admin, queue.name, list_name, action, counts, scope)
    return HttpResponseRedirect(back)


def count_for(queue: Queue, list_name: str, query: dict) -> int:
    if query["job_filter"]:
        return count_matching(queue, list_name, query["job_filter"])
    return count_jobs(queue, list_name)


def render_confirmation(
    request, model_admin, queue_name, list_name, action, count, **context
):
    verb = ACTION_VERBS[action]
    query = parse_list_query(request, model_admin)
    return render(
        request,
        model_admin,
        "action_confirmation.html",
        f"{verb.capitalize()} {list_name} jobs of queue {queue_name}",
        queue_name=queue_name,
        list_name=list_name,
        action=action,
        verb=verb,
        count=count,
        back_url=list_url(model_admin, queue_name, list_name, query),
        query=query,
        **context,
    )


def finish_action(
    request, model_admin, queue_name, list_name, action, counts, scope
) -> None:
    """Show the counts of a finished action and record it in the admin log."""
    verb = ACTION_VERBS[action]
    report_counts(request, verb, list_name, queue_name, counts)
    if counts.done or counts.missing:
        log_action(
            request,
            model_admin,
            queue_name,
            f"{PAST_TENSE[verb]} {counts.done} {list_name} jobs of queue "
            f"{queue_name} ({scope} jobs); removed {counts.missing} entries "
            "without job data.",
        )


def all_action(
    request: HttpRequest,
    model_admin: QueueAdmin,
    queue_name: str,
    list_name: str = FAILED,
    action: str = "requeue",
) -> HttpResponse:
    """Show a confirmation on GET; apply ``action`` to every job on POST.

    The current filter (``exc_class`` and ``func`` in the query string)
    limits the jobs, on the confirmation page and in the action.
    """
    check_list_name(list_name)
    queue = get_queue_or_404(queue_name)
    if action not in LIST_ACTIONS[list_name]:
        raise Http404(f"Action {action!r} does not apply to {list_name} jobs.")
    query = parse_list_query(request, model_admin)
    if request.method != "POST":
        count = count_for(queue, list_name, query)
        return render_confirmation(
            request, model_admin, queue_name, list_name, action, count, is_all=True
        )
    counts = run_action_on_all(queue, list_name, action, query["job_filter"])
    scope = "all matching" if query["job_filter"] else "all"
    finish_action(request, model_admin, queue_name, list_name, action, counts, scope)
    return HttpResponseRedirect(list_url(model_admin, queue_name, list_name, query))


def requeue_all(
    request: HttpRequest, model_admin: QueueAdmin, queue_name: str
) -> HttpResponse:
    """Requeue every failed job of a queue, after a confirmation page."""
    return all_action(request, model_admin, queue_name, FAILED, "requeue")


def find_job_list(queue: Queue, job_id: str, status: str) -> str:
    """Return the name of the job list that contains ``job_id``, or ``""``."""
    if status and status in LIST_ACTIONS and contains_job(queue, status, job_id):
        return status
    for name in LIST_ACTIONS:
        if name != status and contains_job(queue, name, job_id):
            return name
    return ""


def post_only(view):
    """Return 405 with a message for any method but POST, for the job actions."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST":
            return view(request, *args, **kwargs)
        return HttpResponseNotAllowed(
            ["POST"],
            content=(
                f"{request.method} is not allowed here. This URL changes a job, "
                "so it accepts only POST, from the buttons on the job's page."
            ),
            content_type="text/plain; charset=utf-8",
        )

    return wrapper


@post_only
def job_action(
    request: HttpRequest,
    model_admin: QueueAdmin,
    queue_name: str,
    job_id: str,
    action: str = "requeue",
) -> HttpResponse:
    """Apply ``action`` (requeue, delete, cancel, enqueue, stop) to one job."""
    if action not in JOB_ACTIONS:
        raise Http404(f"Job action {action!r} does not exist.")
    queue = get_queue_or_404(queue_name)
    try:
        job = get_job_detail(queue, job_id)
    except JobNotFound as exc:
        raise Http404(str(exc)) from None
    job_url = model_admin.reverse("job", queue_name, job_id)
    if action == "stop":
        return stop_one(request, model_admin, queue, job_id, job_url)

    list_name = find_job_list(queue, job_id, job.status)
    if not list_name:
        # Another request moved the job out of its list, or it has ended.
        messages.warning(
            request,
            f"Job {job_id} was not changed: it is in none of the queue's job "
            f"lists now, so it cannot be {PAST_TENSE[ACTION_VERBS[action]].lower()}. "
            "Reload its page to see where it is.",
        )
        return HttpResponseRedirect(job_url)
    if action not in LIST_ACTIONS.get(list_name, ()):
        messages.warning(
            request,
            f"Job {job_id} was not changed: {action} does not apply to "
            f"{list_name} jobs.",
        )
        return HttpResponseRedirect(job_url)
    counts = run_action(queue, list_name, action, [job_id])
    report_one(request, action, job_id, job, counts)
    if counts.done:
        log_action(
            request,
            model_admin,
            queue_name,
            f"{PAST_TENSE[ACTION_VERBS[action]]} {list_name} job {job_id} of queue "
            f"{queue_name}.",
        )
    if action == "delete" and counts.done:
        return HttpResponseRedirect(model_admin.reverse("jobs", queue_name, list_name))
    return HttpResponseRedirect(job_url)


def report_one(request, action, job_id, job, counts: ActionCounts) -> None:
    if counts.done:
        past = PAST_TENSE[ACTION_VERBS[action]]
        messages.success(request, f"{past} job {job_id}.")
    elif counts.unreadable:
        problems = " ".join(job.problems) or "its data cannot be read."
        messages.error(
            request,
            f"Job {job_id} was not changed because a worker could not run it: "
            f"{problems} Fix the code or delete the job.",
        )
    elif counts.missing:
        messages.warning(
            request, f"Job {job_id} was not changed: its job data has expired."
        )
    else:
        messages.warning(
            request,
            f"Job {job_id} was not changed: another request moved it first.",
        )


def stop_one(request, model_admin, queue, job_id, job_url) -> HttpResponse:
    try:
        stop_job(queue, job_id)
    except (InvalidJobOperation, NoSuchJobError) as exc:
        messages.warning(request, f"Job {job_id} was not stopped: {exc}")
        return HttpResponseRedirect(job_url)
    messages.success(request, f"Sent a stop command for job {job_id} to its worker.")
    log_action(
        request,
        model_admin,
        queue.name,
        f"Sent a stop command for {STARTED} job {job_id} of queue {queue.name}.",
    )
    return HttpResponseRedirect(job_url)


def empty(request: HttpRequest, model_admin: QueueAdmin, queue_name: str):
    """Show a confirmation on GET; delete every queued job of the queue on POST."""
    queue = get_queue_or_404(queue_name)
    if request.method != "POST":
        return render(
            request,
            model_admin,
            "empty_confirmation.html",
            f"Empty queue {queue_name}",
            queue_name=queue_name,
            count=queue.count,
        )
    deleted = empty_queue(queue)
    messages.success(request, f"Deleted {deleted} queued jobs of queue {queue_name}.")
    log_action(
        request,
        model_admin,
        queue_name,
        f"Emptied queue {queue_name}: deleted {deleted} queued jobs.",
    )
    return HttpResponseRedirect(model_admin.reverse("changelist"))
