"""System checks for ``RQ_QUEUES`` and ``RQ``, run by ``manage.py check``.

Each message names the queue, the key and the fix. The ids are stable:
a retired id is never reused.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.checks.registry import registry
from django.utils.module_loading import import_string
from rq.exceptions import TimeoutFormatError
from rq.utils import parse_timeout

from . import conf

URL_SCHEMES = ("redis", "rediss", "unix", "embedded")

# Values of these keys may hold passwords, so messages show only their type.
SECRET_KEYS = ("PASSWORD", "SSL_PASSWORD", "CONNECTION_KWARGS", "SENTINEL_KWARGS")

# Modules of the Tasks framework's check of every TASKS backend: Django 6.0's
# own, then the django-tasks backport's for older Django.
TASK_CHECK_MODULES = ("django.tasks.checks", "django_tasks.checks")


@register("django_rq_lite")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list:
    queues = getattr(settings, "RQ_QUEUES", None)
    if queues is not None and not isinstance(queues, dict):
        return [
            Error(
                f"RQ_QUEUES must be a dict of queue names to options, not "
                f"{type(queues).__name__}.",
                hint='For example: RQ_QUEUES = {"default": {"URL": '
                '"redis://localhost:6379/0"}}.',
                id="django_rq_lite.E001",
            )
        ]
    messages = []
    for name, options in conf.get_queues_setting().items():
        messages.extend(check_queue(name, options))
    if "default" not in conf.get_queues_setting():
        messages.append(
            Warning(
                "RQ_QUEUES has no 'default' queue, but @job without a queue "
                "name, enqueue() and rqworker without queue names use it.",
                hint='Add a "default" entry to RQ_QUEUES, or silence '
                "django_rq_lite.W002 if every call names its queue.",
                id="django_rq_lite.W002",
            )
        )
    messages.extend(check_global(conf.get_global_setting()))
    return messages


def check_queue(name: Any, options: Any) -> list:
    """Return the problems of one ``RQ_QUEUES`` entry."""
    if not isinstance(name, str) or not name:
        return [
            Error(
                f"RQ_QUEUES has an invalid queue name {name!r}.",
                hint="Queue names are non-empty strings.",
                id="django_rq_lite.E002",
            )
        ]
    if not isinstance(options, dict):
        return [
            Error(
                f"RQ_QUEUES[{name!r}] must be a dict of options, not "
                f"{type(options).__name__}.",
                hint='Use {"URL": "redis://localhost:6379/0"} or similar.',
                id="django_rq_lite.E001",
            )
        ]
    where = f"RQ_QUEUES[{name!r}]"
    messages = _check_keys(where, options, conf.QUEUE_KEYS, "django_rq_lite.E003")
    messages += _check_types(where, options, conf.QUEUE_KEYS)
    messages += _check_connection_source(name, where, options)
    if isinstance(options.get("URL"), str):
        messages += _check_url(where, options["URL"])
    if isinstance(options.get("USE_REDIS_CACHE"), str):
        messages += _check_cache(where, options["USE_REDIS_CACHE"])
    if isinstance(options.get("SERIALIZER"), str):
        messages += _check_import(
            where, "SERIALIZER", conf.resolve_serializer_path(options["SERIALIZER"])
        )
    messages += _check_sentinels(where, options)
    messages += _check_ssl(where, options)
    messages += _check_ttls(where, options)
    messages += _check_commit_options(where, options)
    if not any(message.is_serious() for message in messages):
        messages += _check_connection_kwargs(where, options)
    if conf.uses_embedded(options):
        messages.append(
            Warning(
                f"{where} uses the embedded Redis server, which is meant for "
                "development, not production.",
                hint="Point URL (or HOST and PORT) at a managed Redis server "
                "in production.",
                id="django_rq_lite.W001",
            )
        )
    return messages


def check_global(options: Any) -> list:
    """Return the problems of the global ``RQ`` setting."""
    if not isinstance(options, dict):
        return [
            Error(
                f"RQ must be a dict, not {type(options).__name__}.",
                hint='For example: RQ = {"WORKER_CLASS": "rq.SimpleWorker"}.',
                id="django_rq_lite.E001",
            )
        ]
    where = "RQ"
    messages = _check_keys(where, options, conf.GLOBAL_KEYS, "django_rq_lite.E003")
    messages += _check_types(where, options, conf.GLOBAL_KEYS)
    for key in conf.CLASS_PATH_KEYS:
        if isinstance(options.get(key), str):
            messages += _check_class(where, key, options[key])
    if isinstance(options.get("SERIALIZER"), str):
        messages += _check_import(
            where, "SERIALIZER", conf.resolve_serializer_path(options["SERIALIZER"])
        )
    for path in options.get("EXCEPTION_HANDLERS") or ():
        messages += _check_import(where, "EXCEPTION_HANDLERS", path)
    messages += _check_ttls(where, options)
    messages += _check_commit_options(where, options)
    messages += _check_operations(options)
    return messages


def _check_operations(options: dict) -> list:
    """Check the metrics token and the periodic jobs (E020 to E024).

    Each module is imported only when its keys are set, because the checks
    run at every worker start and a worker needs neither module.
    """
    messages = []
    if options.get("METRICS_TOKEN"):
        from . import metrics

        messages += metrics.check_settings(options)
    if options.get("CRON") or options.get("CRON_MODULE"):
        from . import cron

        messages += cron.check_settings(options)
    return messages


def _check_commit_options(where: str, options: dict) -> list:
    """Check ``COMMIT_MODE`` and that ``COMMIT_DATABASE`` is in ``DATABASES``."""
    from .on_commit import COMMIT_MODES

    messages = []
    mode = options.get("COMMIT_MODE")
    if isinstance(mode, str) and mode not in COMMIT_MODES:
        messages.append(
            Error(
                f"{where}['COMMIT_MODE'] is {mode!r}, which is not a commit mode.",
                hint=f"Use one of: {', '.join(repr(m) for m in COMMIT_MODES)}.",
                id="django_rq_lite.E013",
            )
        )
    alias = options.get("COMMIT_DATABASE")
    databases = getattr(settings, "DATABASES", {})
    if isinstance(alias, str) and alias not in databases:
        messages.append(
            Error(
                f"{where}['COMMIT_DATABASE'] is {alias!r}, which is not in DATABASES.",
                hint=f"Use one of the DATABASES aliases: "
                f"{', '.join(databases) or 'none'}.",
                id="django_rq_lite.E014",
            )
        )
    return messages


def _check_keys(where: str, options: dict, valid: dict, check_id: str) -> list:
    messages = []
    for key in options:
        if key in valid:
            continue
        close = difflib.get_close_matches(str(key), list(valid), n=1)
        hint = f"Did you mean {close[0]!r}? " if close else ""
        messages.append(
            Error(
                f"{where} has an unknown key {key!r}.",
                hint=f"{hint}Valid keys: {', '.join(sorted(valid))}.",
                id=check_id,
            )
        )
    return messages


def _check_types(where: str, options: dict, valid: dict) -> list:
    messages = []
    for key, value in options.items():
        types = valid.get(key)
        if types is None or value is None:
            continue
        # bool is an int subclass, but True is no port number.
        wrong_bool = isinstance(value, bool) and bool not in types
        if wrong_bool or not isinstance(value, types):
            expected = " or ".join(t.__name__ for t in types)
            shown = type(value).__name__ if key in SECRET_KEYS else repr(value)
            messages.append(
                Error(
                    f"{where}[{key!r}] must be {expected}, not {shown}.",
                    hint=f"Change {key} to a value of type {expected}.",
                    id="django_rq_lite.E004",
                )
            )
    return messages


def _check_connection_source(name: str, where: str, options: dict) -> list:
    if not conf.names_server(options):
        return [
            Error(
                conf.no_server_message(name),
                hint=conf.NO_SERVER_HINT,
                id="django_rq_lite.E025",
            )
        ]
    sources = [key for key in conf.CONNECTION_SOURCES if options.get(key)]
    if len(sources) <= 1:
        return []
    return [
        Error(
            f"{where} names its Redis server in more than one way: "
            f"{', '.join(sources)}.",
            hint="Keep one of URL, HOST (with PORT and DB), SENTINELS or "
            "USE_REDIS_CACHE.",
            id="django_rq_lite.E005",
        )
    ]


def _check_connection_kwargs(where: str, options: dict) -> list:
    """Report CONNECTION_KWARGS that redis-py rejects, without connecting.

    redis-py builds a connection only for the first command, so an unknown
    keyword would otherwise fail every enqueue and every worker start. The
    embedded server, Sentinel and django-redis queues are left out, because
    building their client starts or contacts a server.
    """
    if not options.get("CONNECTION_KWARGS") or not isinstance(
        options["CONNECTION_KWARGS"], dict
    ):
        return []
    if conf.uses_embedded(options) or options.get("SENTINELS"):
        return []
    if options.get("USE_REDIS_CACHE"):
        return []
    from .connections import build_client

    try:
        build_client(options).connection_pool.make_connection()
    except TypeError as error:
        # The message names the keyword, never its value.
        return [
            Error(
                f"{where}['CONNECTION_KWARGS'] is rejected by redis-py: {error}",
                hint="Remove that key, or give keyword arguments that redis.Redis "
                "and its connection class accept.",
                id="django_rq_lite.E026",
            )
        ]
    return []


def _check_url(where: str, url: str) -> list:
    if url == conf.EMBEDDED_URL:
        return []
    problem = None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a non-numeric port.
    except ValueError as error:
        problem = str(error)
    else:
        if parts.scheme == "embedded":
            problem = f"the embedded server takes no address, use {conf.EMBEDDED_URL}"
        elif parts.scheme not in URL_SCHEMES:
            problem = f"the scheme {parts.scheme!r} is not one of {URL_SCHEMES}"
        elif parts.scheme != "unix" and not parts.hostname:
            problem = "it has no host"
        elif parts.scheme == "unix" and not parts.path:
            problem = "it has no socket path"
        elif (
            parts.scheme != "unix"
            and parts.path.strip("/")
            and not (parts.path.strip("/").isdigit())
        ):
            problem = f"the database {parts.path.strip('/')!r} is not a number"
    if problem is None:
        return []
    return [
        Error(
            f"{where}['URL'] is not a valid Redis URL: {problem}.",
            hint="Use redis://[[user]:password@]host[:port][/db], rediss:// "
            "for TLS, unix:///path/to/socket, or embedded:// for the "
            "development server.",
            id="django_rq_lite.E006",
        )
    ]


def _check_cache(where: str, alias: str) -> list:
    caches = getattr(settings, "CACHES", {})
    if alias not in caches:
        return [
            Error(
                f"{where}['USE_REDIS_CACHE'] names the cache {alias!r}, which "
                "is not in CACHES.",
                hint=f"Add {alias!r} to CACHES or use one of: "
                f"{', '.join(caches) or 'none'}.",
                id="django_rq_lite.E007",
            )
        ]
    cache = caches[alias]
    backend = cache.get("BACKEND", "") if isinstance(cache, dict) else ""
    if not backend.startswith("django_redis."):
        return [
            Error(
                f"{where}['USE_REDIS_CACHE'] names the cache {alias!r}, whose "
                f"backend {backend!r} is not django-redis.",
                hint="Use django_redis.cache.RedisCache for that cache, or "
                "give this queue its own URL.",
                id="django_rq_lite.E008",
            )
        ]
    return []


def _check_import(where: str, key: str, path: str) -> list:
    try:
        import_string(path)
    except ImportError as error:
        return [
            Error(
                f"{where}[{key!r}] is {path!r}, which cannot be imported: {error}",
                hint="Give the dotted path of an importable object"
                + (', or "pickle" or "json"' if key == "SERIALIZER" else "")
                + ".",
                id="django_rq_lite.E009",
            )
        ]
    return []


def _check_class(where: str, key: str, path: str) -> list:
    messages = _check_import(where, key, path)
    if messages or conf.is_class_for(import_string(path), key):
        return messages
    base = conf.CLASS_BASES[key]
    return [
        Error(
            f"{where}[{key!r}] is {path!r}, which is not a subclass of {base}.",
            hint=f"Give the dotted path of a subclass of {base}.",
            id="django_rq_lite.E009",
        )
    ]


def _check_sentinels(where: str, options: dict) -> list:
    sentinels = options.get("SENTINELS")
    if not sentinels:
        if options.get("MASTER_NAME") or options.get("SENTINEL_KWARGS"):
            return [
                Error(
                    f"{where} sets MASTER_NAME or SENTINEL_KWARGS without SENTINELS.",
                    hint='Add SENTINELS = [("host", 26379), ...].',
                    id="django_rq_lite.E010",
                )
            ]
        return []
    messages = []
    if not isinstance(options.get("MASTER_NAME"), str):
        messages.append(
            Error(
                f"{where} sets SENTINELS without MASTER_NAME.",
                hint="Set MASTER_NAME to the monitored master's name.",
                id="django_rq_lite.E010",
            )
        )
    for address in sentinels if isinstance(sentinels, list | tuple) else ():
        valid = (
            isinstance(address, list | tuple)
            and len(address) == 2
            and isinstance(address[0], str)
            and isinstance(address[1], int)
            and not isinstance(address[1], bool)
        )
        if not valid:
            messages.append(
                Error(
                    f"{where}['SENTINELS'] has an invalid address {address!r}.",
                    hint='Each address is a (host, port) pair: ("10.0.0.1", 26379).',
                    id="django_rq_lite.E010",
                )
            )
    return messages


def _check_ssl(where: str, options: dict) -> list:
    ssl_keys = [key for key in conf.SSL_KEYS if key in options]
    url = options.get("URL")
    if not ssl_keys or options.get("SSL"):
        return []
    if isinstance(url, str) and url.startswith("rediss://"):
        return []
    return [
        Error(
            f"{where} sets {', '.join(ssl_keys)} but does not use TLS, so "
            "they would be ignored.",
            hint='Set "SSL": True, or use a rediss:// URL.',
            id="django_rq_lite.E012",
        )
    ]


def _check_ttls(where: str, options: dict) -> list:
    messages = []
    for key in ("DEFAULT_RESULT_TTL", "DEFAULT_FAILURE_TTL"):
        value = options.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < -1:
            messages.append(
                Error(
                    f"{where}[{key!r}] is {value}, but a TTL is a number of "
                    "seconds, 0 or -1.",
                    hint="Use a positive number of seconds, 0 to keep nothing, "
                    "or -1 to keep forever.",
                    id="django_rq_lite.E011",
                )
            )
    timeout = options.get("DEFAULT_TIMEOUT")
    if isinstance(timeout, bool) or not isinstance(timeout, int | str):
        return messages
    try:
        seconds = parse_timeout(timeout)
    except TimeoutFormatError:
        seconds = None
    if seconds is None or seconds == 0 or seconds < -1:
        messages.append(
            Error(
                f"{where}['DEFAULT_TIMEOUT'] is {timeout!r}, which RQ rejects.",
                hint="Use a positive number of seconds, a string such as "
                '"5m", or -1 for no timeout.',
                id="django_rq_lite.E011",
            )
        )
    return messages


@register
def check_task_backends(app_configs: Any = None, **kwargs: Any) -> list:
    """Run the Tasks framework's check of ``TASKS`` if it is not registered yet.

    The framework registers that check, which calls ``RQBackend.check()``,
    when Django 6.0's ``django.tasks`` or the backport's
    ``django_tasks.checks`` is first imported. A project whose task modules
    load after ``manage.py check`` collects its checks would skip it. The
    framework is imported only when the project sets ``TASKS``, because
    every command that runs the checks would pay for the import.
    """
    if not settings.is_overridden("TASKS") or _task_checks():
        return []
    for module_name in TASK_CHECK_MODULES:
        try:
            importlib.import_module(module_name)
        except ImportError:
            continue
        break
    # The import registered the framework's check after this run collected
    # its list, so this run calls it here and later runs call it directly.
    messages = []
    for check in _task_checks():
        messages.extend(check(app_configs=app_configs, **kwargs))
    return messages


def _task_checks() -> list:
    return [
        check
        for check in registry.get_checks(include_deployment_checks=True)
        if getattr(check, "__module__", None) in TASK_CHECK_MODULES
    ]
