"""Read the ``RQ_QUEUES`` and ``RQ`` settings when asked, never at import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

EMBEDDED_URL = "embedded://"

# Each queue option and the Python types it accepts.
CONNECTION_KEYS = {
    "URL": (str,),
    "HOST": (str,),
    "PORT": (int,),
    "DB": (int,),
    "USERNAME": (str,),
    "PASSWORD": (str,),
    "SSL": (bool,),
    "SOCKET_TIMEOUT": (int, float),
    "CONNECTION_KWARGS": (dict,),
    "SENTINELS": (list, tuple),
    "MASTER_NAME": (str,),
    "SENTINEL_KWARGS": (dict,),
    "USE_REDIS_CACHE": (str,),
}
JOB_DEFAULT_KEYS = {
    "DEFAULT_TIMEOUT": (int, str),
    "DEFAULT_RESULT_TTL": (int,),
    "DEFAULT_FAILURE_TTL": (int,),
}
QUEUE_KEYS = {
    **CONNECTION_KEYS,
    **JOB_DEFAULT_KEYS,
    "ASYNC": (bool,),
    "SERIALIZER": (str,),
    "COMMIT_MODE": (str,),
    "COMMIT_DATABASE": (str,),
}

# The SSL_* queue options become redis-py's ssl_* client arguments.
SSL_KEYS = {
    "SSL_KEYFILE": (str,),
    "SSL_CERTFILE": (str,),
    "SSL_CERT_REQS": (str,),
    "SSL_CA_CERTS": (str,),
    "SSL_CA_PATH": (str,),
    "SSL_CA_DATA": (str,),
    "SSL_CHECK_HOSTNAME": (bool,),
    "SSL_PASSWORD": (str,),
    "SSL_MIN_VERSION": (object,),
    "SSL_CIPHERS": (str,),
}
QUEUE_KEYS.update(SSL_KEYS)

# Options of the global RQ setting.
GLOBAL_KEYS = {
    **JOB_DEFAULT_KEYS,
    "JOB_CLASS": (str,),
    "QUEUE_CLASS": (str,),
    "WORKER_CLASS": (str,),
    "SERIALIZER": (str,),
    "EXCEPTION_HANDLERS": (list, tuple),
    "EMBEDDED_DIR": (str, Path),
    "SHOW_ADMIN": (bool,),
    "COMMIT_MODE": (str,),
    "COMMIT_DATABASE": (str,),
    "METRICS_TOKEN": (str,),
    "CRON": (list, tuple),
    "CRON_MODULE": (str,),
}
CLASS_PATH_KEYS = ("JOB_CLASS", "QUEUE_CLASS", "WORKER_CLASS")

# The RQ class that each class setting must name a subclass of. Dotted
# paths, so that web processes do not import RQ's worker module.
CLASS_BASES = {
    "JOB_CLASS": "rq.job.Job",
    "QUEUE_CLASS": "rq.queue.Queue",
    "WORKER_CLASS": "rq.worker.BaseWorker",
}

# Alternative ways to name a Redis server; a queue may use one of them.
CONNECTION_SOURCES = ("URL", "HOST", "SENTINELS", "USE_REDIS_CACHE")

SERIALIZER_ALIASES = {
    "pickle": "rq.serializers.DefaultSerializer",
    "json": "rq.serializers.JSONSerializer",
}

DEFAULT_QUEUES = {"default": {"URL": EMBEDDED_URL}}


class QueueNotFound(ImproperlyConfigured, KeyError):
    """A queue name that ``RQ_QUEUES`` does not define."""

    def __init__(self, name: str, configured: list[str]) -> None:
        self.name = name
        self.configured = configured
        names = ", ".join(repr(n) for n in configured) or "none"
        super().__init__(
            f"Queue {name!r} is not configured. Configured queues: {names}. "
            f"Add {name!r} to the RQ_QUEUES setting or use one of those names."
        )

    def __str__(self) -> str:
        # KeyError would otherwise quote the whole message.
        return self.args[0]


def get_queues_setting() -> dict[str, dict[str, Any]]:
    """Return ``RQ_QUEUES``, or one embedded ``default`` queue when unset."""
    queues = getattr(settings, "RQ_QUEUES", None)
    if queues is None:
        return DEFAULT_QUEUES
    if not isinstance(queues, dict):
        raise ImproperlyConfigured(
            f"RQ_QUEUES must be a dict of queue names to options, not "
            f"{type(queues).__name__}. For example: RQ_QUEUES = "
            '{"default": {"URL": "redis://localhost:6379/0"}}.'
        )
    return queues


def get_global_setting() -> dict[str, Any]:
    """Return the global ``RQ`` setting (an empty dict when unset)."""
    return getattr(settings, "RQ", None) or {}


def get_queue_names() -> list[str]:
    """Return the configured queue names in settings order."""
    return list(get_queues_setting())


def get_queue_options(name: str) -> dict[str, Any]:
    """Return the options of queue ``name``, or raise ``QueueNotFound``."""
    queues = get_queues_setting()
    try:
        options = queues[name]
    except (KeyError, TypeError):
        raise QueueNotFound(name, list(queues)) from None
    return options if isinstance(options, dict) else {}


def get_job_default(queue_name: str | None, key: str) -> Any:
    """Return a job default from the queue's options, else the ``RQ`` setting.

    ``None`` means neither sets it, so RQ's own default applies.
    """
    if queue_name is not None and queue_name in get_queues_setting():
        value = get_queue_options(queue_name).get(key)
        if value is not None:
            return value
    return get_global_setting().get(key)


def is_async(queue_name: str) -> bool:
    return bool(get_queue_options(queue_name).get("ASYNC", True))


def resolve_serializer_path(value: str) -> str:
    """Turn ``"pickle"``, ``"json"`` or a dotted path into a dotted path."""
    return SERIALIZER_ALIASES.get(value.lower(), value)


def get_serializer_path(queue_name: str | None = None) -> str | None:
    """Return the dotted path of the serializer for a queue, if one is set."""
    value = None
    if queue_name is not None:
        value = get_queue_options(queue_name).get("SERIALIZER")
    value = value or get_global_setting().get("SERIALIZER")
    return resolve_serializer_path(value) if value else None


def get_serializer(queue_name: str | None = None) -> Any:
    path = get_serializer_path(queue_name)
    return import_string(path) if path else None


def get_class(key: str) -> type | None:
    """Import the class that the ``RQ`` setting names under ``key``."""
    path = get_global_setting().get(key)
    return import_string(path) if path else None


def is_class_for(value: Any, key: str) -> bool:
    """Tell whether ``value`` is a subclass of the RQ class that ``key`` needs."""
    base = import_string(CLASS_BASES[key])
    return isinstance(value, type) and issubclass(value, base)


def get_exception_handlers() -> list:
    paths = get_global_setting().get("EXCEPTION_HANDLERS") or ()
    return [import_string(path) for path in paths]


def get_embedded_dir() -> Path:
    """Return the directory of the embedded server's socket and data files.

    ``RQ["EMBEDDED_DIR"]`` sets it; the default is ``.rq-embedded`` inside
    ``BASE_DIR`` when the project defines one, else the working directory.
    """
    configured = get_global_setting().get("EMBEDDED_DIR")
    if configured:
        return Path(configured)
    base_dir = getattr(settings, "BASE_DIR", None)
    return Path(base_dir or Path.cwd()) / ".rq-embedded"


def names_server(options: dict[str, Any]) -> bool:
    """Tell whether queue options give one of the keys that name a Redis server.

    An empty value counts as given, so that the URL check reports it.
    """
    return any(options.get(key) is not None for key in CONNECTION_SOURCES)


# How to fix a queue whose options name no Redis server.
NO_SERVER_HINT = (
    "Add one of URL, HOST (with PORT and DB), SENTINELS or USE_REDIS_CACHE, "
    'for example "URL": "redis://localhost:6379/0", or "URL": "embedded://" '
    "for the development server."
)


def no_server_message(name: str) -> str:
    """Return the error for queue ``name`` when its options name no Redis server."""
    return f"RQ_QUEUES[{name!r}] names no Redis server."


def uses_embedded(options: dict[str, Any]) -> bool:
    return options.get("URL") == EMBEDDED_URL


def show_admin() -> bool:
    return bool(get_global_setting().get("SHOW_ADMIN", True))
