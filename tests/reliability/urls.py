"""A view that enqueues a job, as a Django project's view would."""

from django.http import HttpResponse
from django.urls import path

from tests.testapp import jobs


def enqueue_view(request):
    queued = jobs.plain_job.delay(21)
    return HttpResponse(queued.id)


urlpatterns = [path("enqueue/", enqueue_view)]
