"""Background jobs for Django on RQ.

The public API is imported lazily, so ``import django_rq_lite`` works
before Django's settings are configured and costs nothing at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

__all__ = [
    "EnqueueError",
    "PendingJob",
    "QueueNotFound",
    "enqueue",
    "get_connection",
    "get_queue",
    "get_worker",
    "job",
]

_EXPORTS = {
    "EnqueueError": "django_rq_lite.exceptions",
    "PendingJob": "django_rq_lite.on_commit",
    "QueueNotFound": "django_rq_lite.conf",
    "enqueue": "django_rq_lite.queues",
    "get_connection": "django_rq_lite.connections",
    "get_queue": "django_rq_lite.queues",
    "get_worker": "django_rq_lite.workers",
    "job": "django_rq_lite.decorators",
}

if TYPE_CHECKING:
    from .conf import QueueNotFound
    from .connections import get_connection
    from .decorators import job
    from .exceptions import EnqueueError
    from .on_commit import PendingJob
    from .queues import enqueue, get_queue
    from .workers import get_worker


def __getattr__(name: str) -> Any:
    module_path = _EXPORTS.get(name)
    if module_path is None:
        raise AttributeError(f"module 'django_rq_lite' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_path), name)
