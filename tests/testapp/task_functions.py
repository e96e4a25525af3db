"""Django tasks for the Tasks backend tests, imported by workers by path.

The module defines no task when neither ``django.tasks`` (Django 6) nor the
``django-tasks`` backport is installed, and the tests skip then.
"""

import os

try:
    from django.tasks import task
except ImportError:
    try:
        from django_tasks import task
    except ImportError:
        task = None

if task is not None:

    @task
    def add_task(x, y):
        return x + y

    @task
    def fail_task(message="boom"):
        raise ValueError(message)

    @task(takes_context=True)
    def context_task(context, value):
        return {
            "attempt": context.attempt,
            "result_id": context.task_result.id,
            "value": value,
        }

    @task
    async def async_add_task(x, y):
        return x + y

    @task
    def fail_unless_file_task(path):
        """Raise until the file ``path`` exists, then return its text."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"Flag file {path} does not exist yet.")
        with open(path) as flag:
            return flag.read()
