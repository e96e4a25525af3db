import logging
import uuid

from django.contrib import messages
from django.shortcuts import redirect, render
from redis.exceptions import RedisError
from rq.job import Job

from django_rq_lite import get_queue

from .forms import SignupForm
from .jobs import send_confirmation
from .models import Signup

logger = logging.getLogger("signups.views")

RESULTS_LIMIT = 50


def signup(request):
    """Save a sign-up and enqueue its confirmation e-mail, without waiting."""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # The job id is chosen first and saved with the row, so the worker
        # never updates a row that does not yet know its job.
        entry = form.save(commit=False)
        entry.job_id = uuid.uuid4().hex
        entry.save()
        try:
            send_confirmation.delay(entry.pk, job_id=entry.job_id)
        except RedisError as error:
            logger.exception("Could not enqueue signup_id=%s", entry.pk)
            entry.status = Signup.Status.FAILED
            entry.last_error = f"Could not enqueue the confirmation: {error}"
            entry.save(update_fields=["status", "last_error"])
            messages.error(request, "The confirmation could not be queued.")
        else:
            messages.success(request, "Thank you. Your confirmation is on its way.")
        return redirect("signups:results")
    return render(request, "signups/signup_form.html", {"form": form})


def results(request):
    """List recent sign-ups with their row status and their RQ job's state."""
    entries = list(Signup.objects.all()[:RESULTS_LIMIT])
    redis_error = None
    try:
        jobs = fetch_jobs([entry.job_id for entry in entries if entry.job_id])
    except RedisError as error:
        redis_error = str(error)
        jobs = {}
    rows = [describe(entry, jobs.get(entry.job_id)) for entry in entries]
    return render(
        request,
        "signups/results.html",
        {"rows": rows, "redis_error": redis_error},
    )


def fetch_jobs(job_ids):
    """Return the RQ jobs that still exist, by id, in one round trip."""
    if not job_ids:
        return {}
    queue = get_queue()
    found = queue.job_class.fetch_many(
        job_ids, connection=queue.connection, serializer=queue.serializer
    )
    return {job.id: job for job in found if job is not None}


def describe(entry, job):
    """Return a results-page row for a sign-up and its job (or ``None``)."""
    row = {"entry": entry, "job_status": "expired", "job_result": ""}
    if job is None:
        return row
    status = job.get_status(refresh=False)
    row["job_status"] = status.value if status else "unknown"
    row["job_result"] = job_outcome(job)
    return row


def job_outcome(job: Job) -> str:
    result = job.latest_result()
    if result is None:
        return ""
    if result.type == result.Type.SUCCESSFUL:
        return str(result.return_value)
    # The last line of a traceback names the exception and its message.
    lines = (result.exc_string or "").strip().splitlines()
    return lines[-1] if lines else str(result.type)
