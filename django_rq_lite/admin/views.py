"""Dashboard views: thin HTTP wrappers over ``django_rq_lite.dashboard``.

Each view takes the ``QueueAdmin`` as its second argument. The model admin's
``wrap_view`` has already checked login, permission and the ``SHOW_ADMIN``
setting, and applied CSRF protection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.paginator import InvalidPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from rq import Queue

from ..conf import QueueNotFound
from ..dashboard.actions import requeue_all_failed, requeue_jobs
from ..dashboard.jobs import JobNotFound, get_job_detail, get_job_summaries
from ..dashboard.queues import (
    FAILED,
    JOB_LIST_NAMES,
    JobIdList,
    count_jobs,
    summarize_queues,
)
from ..models import Queue as QueueModel
from ..queues import get_queue
from .forms import PageForm

if TYPE_CHECKING:
    from .options import QueueAdmin

TEMPLATE_DIR = "admin/django_rq_lite"


def get_queue_or_404(queue_name: str) -> Queue:
    try:
        return get_queue(queue_name)
    except QueueNotFound as exc:
        raise Http404(str(exc)) from None


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


def job_list(
    request: HttpRequest, model_admin: QueueAdmin, queue_name: str, list_name: str
) -> HttpResponse:
    """List one page of a queue's job list (queued, started, finished, failed)."""
    queue = get_queue_or_404(queue_name)
    if list_name not in JOB_LIST_NAMES:
        raise Http404(f"Job list {list_name!r} does not exist.")

    form = PageForm(request.GET, per_page_choices=model_admin.per_page_choices)
    if not form.is_valid():
        raise Http404(f"Invalid page parameters: {form.errors.as_text()}")
    per_page = form.cleaned_data["per_page"] or model_admin.list_per_page
    paginator = Paginator(JobIdList(queue, list_name), per_page)
    try:
        page = paginator.page(form.cleaned_data["page"] or 1)
    except InvalidPage as exc:
        raise Http404(f"Invalid page: {exc}") from None

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
    )


def job_detail(
    request: HttpRequest, model_admin: QueueAdmin, queue_name: str, job_id: str
) -> HttpResponse:
    queue = get_queue_or_404(queue_name)
    try:
        job = get_job_detail(queue, job_id)
    except JobNotFound as exc:
        raise Http404(str(exc)) from None
    return render(
        request,
        model_admin,
        "job_detail.html",
        f"Job {job_id}",
        queue_name=queue_name,
        job=job,
        # The job list that the breadcrumbs link to, when the dashboard has one.
        job_list_name=job.status if job.status in JOB_LIST_NAMES else "",
    )


@require_POST
def requeue_job(
    request: HttpRequest, model_admin: QueueAdmin, queue_name: str, job_id: str
) -> HttpResponse:
    """Requeue one failed job, then return to its page."""
    queue = get_queue_or_404(queue_name)
    try:
        get_job_detail(queue, job_id)
    except JobNotFound as exc:
        raise Http404(str(exc)) from None

    counts = requeue_jobs(queue, [job_id])
    if counts.requeued:
        messages.success(request, f"Requeued job {job_id}.")
        model_admin.log_change(
            request,
            QueueModel(name=queue_name),
            f"Requeued failed job {job_id} of queue {queue_name}.",
        )
    elif counts.missing:
        messages.warning(
            request, f"Job {job_id} was not requeued: its job data has expired."
        )
    else:
        messages.warning(
            request,
            f"Job {job_id} was not requeued: it is not in the failed job "
            f"registry of queue {queue_name}.",
        )
    return HttpResponseRedirect(model_admin.reverse("job", queue_name, job_id))


def requeue_all(
    request: HttpRequest, model_admin: QueueAdmin, queue_name: str
) -> HttpResponse:
    """Show a confirmation on GET; requeue every failed job of the queue on POST."""
    queue = get_queue_or_404(queue_name)
    if request.method != "POST":
        return render(
            request,
            model_admin,
            "requeue_all_confirmation.html",
            f"Requeue all failed jobs of queue {queue_name}",
            queue_name=queue_name,
            failed_count=count_jobs(queue, FAILED),
        )

    counts = requeue_all_failed(queue)
    report_requeue_all(request, queue_name, counts)
    if counts.requeued:
        model_admin.log_change(
            request,
            QueueModel(name=queue_name),
            f"Requeued {counts.requeued} failed jobs of queue {queue_name} "
            f"(requeue all; {counts.missing} had expired job data).",
        )
    return HttpResponseRedirect(model_admin.reverse("jobs", queue_name, FAILED))


def report_requeue_all(request: HttpRequest, queue_name: str, counts) -> None:
    messages.success(
        request,
        ngettext(
            "Requeued %(count)d failed job of queue %(queue)s.",
            "Requeued %(count)d failed jobs of queue %(queue)s.",
            counts.requeued,
        )
        % {"count": counts.requeued, "queue": queue_name},
    )
    if counts.missing:
        messages.warning(
            request,
            ngettext(
                "%(count)d failed job was not requeued: its job data has expired.",
                "%(count)d failed jobs were not requeued: their job data has expired.",
                counts.missing,
            )
            % {"count": counts.missing},
        )
    if counts.not_failed:
        messages.warning(
            request,
            ngettext(
                "%(count)d job left the failed job registry before it could be "
                "requeued.",
                "%(count)d jobs left the failed job registry before they could be "
                "requeued.",
                counts.not_failed,
            )
            % {"count": counts.not_failed},
        )
