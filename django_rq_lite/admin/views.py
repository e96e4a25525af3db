"""Dashboard pages: thin HTTP wrappers over ``django_rq_lite.dashboard``.

Each view takes the ``QueueAdmin`` as its second argument. The model admin's
``wrap_view`` has already checked login, permission and the ``SHOW_ADMIN``
setting, and applied CSRF protection. Views that change jobs are in
``actions``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.paginator import InvalidPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils.http import urlencode
from rq import Queue

from ..conf import QueueNotFound, get_queue_names
from ..dashboard import filters as job_filters
from ..dashboard.actions import LIST_ACTIONS
from ..dashboard.filters import IndexedJobIdList, JobFilter
from ..dashboard.index import get_filter_choices
from ..dashboard.jobs import JobNotFound, get_job_detail, get_job_summaries
from ..dashboard.queues import (
    FAILED,
    JOB_LIST_NAMES,
    JobIdList,
    SearchResult,
    summarize_queue,
    summarize_queues,
)
from ..dashboard.workers import summarize_workers
from ..queues import get_queue
from .forms import PageForm

if TYPE_CHECKING:
    from .options import QueueAdmin

TEMPLATE_DIR = "admin/django_rq_lite"

# Labels of the bulk actions in the actions bar.
ACTION_LABELS = {
    "requeue": "Requeue selected jobs",
    "delete": "Delete selected jobs",
    "cancel": "Cancel selected jobs",
    "enqueue": "Enqueue selected jobs now",
}
# Labels of the links that apply an action to every job of a list.
ALL_ACTION_LABELS = {
    "requeue": "Requeue all",
    "delete": "Delete all",
    "cancel": "Cancel all",
    "enqueue": "Enqueue all now",
}


def get_queue_or_404(queue_name: str) -> Queue:
    try:
        return get_queue(queue_name)
    except QueueNotFound as exc:
        raise Http404(str(exc)) from None


def check_list_name(list_name: str) -> None:
    if list_name not in JOB_LIST_NAMES:
        raise Http404(f"Job list {list_name!r} does not exist.")


def render(
    request: HttpRequest, model_admin: QueueAdmin, template: str, title: str, **context
) -> TemplateResponse:
    """Render a dashboard template with the admin's context and ``title``."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "app_label": model_admin.opts.app_label,
        "title": title,
        "has_change_permission": model_admin.has_change_permission(request),
        **context,
    }
    return TemplateResponse(request, f"{TEMPLATE_DIR}/{template}", context)


def queue_list(request: HttpRequest, model_admin: QueueAdmin) -> HttpResponse:
    return render(
        request,
        model_admin,
        "queue_list.html",
        "Queues",
        queues=summarize_queues(),
        list_names=JOB_LIST_NAMES,
    )


def worker_list(request: HttpRequest, model_admin: QueueAdmin) -> HttpResponse:
    return render(
        request,
        model_admin,
        "worker_list.html",
        "Workers",
        groups=summarize_workers(),
    )


def queue_counts(request: HttpRequest, model_admin: QueueAdmin) -> HttpResponse:
    """Return job and worker counts as JSON, for the auto-refresh script.

    ``?queue=name`` limits the response to one queue and gives 404 when that
    queue is not configured, which makes the script stop.
    """
    name = request.GET.get("queue")
    if name is None:
        names = get_queue_names()
    elif name in get_queue_names():
        names = [name]
    else:
        raise Http404(f"Queue {name!r} is not configured.")
    queues = {}
    for queue_name in names:
        summary = summarize_queue(queue_name)
        queues[queue_name] = {
            "counts": summary.counts,
            "workers": summary.workers,
            "error": summary.error,
        }
    return JsonResponse({"queues": queues})


def parse_list_query(request: HttpRequest, model_admin: QueueAdmin) -> dict:
    """Validate a job list's query string; raise 404 for invalid values."""
    form = PageForm(request.GET, per_page_choices=model_admin.per_page_choices)
    if not form.is_valid():
        raise Http404(f"Invalid page parameters: {form.errors.as_text()}")
    data = form.cleaned_data
    return {
        "page": data["page"] or 1,
        "per_page": data["per_page"] or model_admin.list_per_page,
        "descending": data["o"] != "asc",
        "search": data["q"],
        "job_filter": JobFilter(data["exc_class"], data["func"]),
    }


def make_job_ids(queue: Queue, list_name: str, query: dict):
    """Return the paginator's object list for a job list query.

    The filter applies to the failed list only, which is the list that offers
    it, and reads the failed-job index.
    """
    job_list = JobIdList(queue, list_name, descending=query["descending"])
    if query["search"]:
        return SearchResult(job_list, query["search"])
    if query["job_filter"] and list_name == FAILED:
        return IndexedJobIdList(
            queue,
            query["job_filter"],
            descending=query["descending"],
            max_index=job_filters.MAX_INDEX_PER_REQUEST,
        )
    return job_list


def filter_query_string(query: dict) -> str:
    """Return the query string that keeps a list's search, filter and order."""
    params = {}
    if query["search"]:
        params["q"] = query["search"]
    if query["job_filter"].exc_class:
        params["exc_class"] = query["job_filter"].exc_class
    if query["job_filter"].func_name:
        params["func"] = query["job_filter"].func_name
    if not query["descending"]:
        params["o"] = "asc"
    return urlencode(params)


def job_list(
    request: HttpRequest, model_admin: QueueAdmin, queue_name: str, list_name: str
) -> HttpResponse:
    """List one page of a queue's job list; a POST runs a bulk action."""
    check_list_name(list_name)
    queue = get_queue_or_404(queue_name)
    if request.method == "POST":
        from .actions import list_action

        return list_action(request, model_admin, queue, list_name)

    query = parse_list_query(request, model_admin)
    per_page = query["per_page"]
    job_ids = make_job_ids(queue, list_name, query)
    paginator = Paginator(job_ids, per_page)
    try:
        page = paginator.page(query["page"])
    except InvalidPage as exc:
        raise Http404(f"Invalid page: {exc}") from None

    filters = filter_query_string(query)
    actions = ()
    if model_admin.has_change_permission(request):
        actions = LIST_ACTIONS[list_name]
    return render(
        request,
        model_admin,
        "job_list.html",
        f"{list_name.capitalize()} jobs of queue {queue_name}",
        queue_name=queue_name,
        list_name=list_name,
        is_failed_list=list_name == FAILED,
        page=page,
        page_range=paginator.get_elided_page_range(page.number),
        jobs=get_job_summaries(queue, list(page.object_list)),
        per_page=per_page,
        per_page_choices=model_admin.per_page_choices,
        is_default_per_page=per_page == model_admin.list_per_page,
        query=query,
        filters=filters,
        filters_amp=f"&{filters}" if filters else "",
        is_filtered=bool(query["search"] or query["job_filter"]),
        actions=[(name, ACTION_LABELS[name]) for name in actions],
        # A search by job id shows one job, so no action on a whole list
        # or filter is offered next to it.
        all_actions=[]
        if query["search"]
        else [
            (
                name,
                ALL_ACTION_LABELS[name] + (" matching" if query["job_filter"] else ""),
            )
            for name in actions
        ],
        list_names=JOB_LIST_NAMES,
        index_state=getattr(job_ids, "state", None),
        filter_choices=get_filter_choices(queue) if list_name == FAILED else None,
    )


def job_detail(
    request: HttpRequest, model_admin: QueueAdmin, queue_name: str, job_id: str
) -> HttpResponse:
    queue = get_queue_or_404(queue_name)
    try:
        job = get_job_detail(queue, job_id)
    except JobNotFound as exc:
        raise Http404(str(exc)) from None
    job_list_name = job.status if job.status in JOB_LIST_NAMES else ""
    return render(
        request,
        model_admin,
        "job_detail.html",
        f"Job {job_id}",
        queue_name=queue_name,
        job=job,
        # The job list that the breadcrumbs link to, when the dashboard has one.
        job_list_name=job_list_name,
        actions=LIST_ACTIONS.get(job_list_name, ()),
    )
