"""Redis clients built from queue settings, one per server per process."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import redis
from django.core.exceptions import ImproperlyConfigured

from . import conf, embedded

_clients: dict[Any, redis.Redis] = {}
_lock = threading.Lock()


def get_connection(name: str = "default") -> redis.Redis:
    """Return the Redis client of queue ``name``.

    Queues whose settings name the same server share one client, and so one
    connection pool, in each process.
    """
    options = conf.get_queue_options(name)
    if not conf.names_server(options):
        # The system check E025 reports this too, but manage.py runs some
        # commands without checks, and other processes run none.
        raise ImproperlyConfigured(
            f"{conf.no_server_message(name)} {conf.NO_SERVER_HINT}"
        )
    return connection_for_options(options)


def connection_for_options(options: dict[str, Any]) -> redis.Redis:
    if options.get("USE_REDIS_CACHE"):
        return _cache_connection(options["USE_REDIS_CACHE"])

    key = _cache_key(options)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = build_client(options)
                _clients[key] = client
    return client


def reset_connections() -> None:
    """Forget every cached client and queue, so changed settings take effect."""
    from .queues import clear_queue_cache

    with _lock:
        _clients.clear()
    clear_queue_cache()


def describe_connection(options: dict[str, Any]) -> dict[str, Any]:
    """Return where a queue's Redis is (host, port, db, socket), no secrets."""
    if options.get("USE_REDIS_CACHE"):
        return {"cache": options["USE_REDIS_CACHE"]}
    if options.get("SENTINELS"):
        return {"sentinel": options.get("MASTER_NAME"), "db": options.get("DB", 0)}
    if conf.uses_embedded(options):
        path = embedded.socket_path(conf.get_embedded_dir())
        return {"embedded": True, "socket": str(path), "db": options.get("DB", 0)}
    if options.get("URL"):
        parts = urlsplit(options["URL"])
        if parts.scheme == "unix":
            return {"socket": parts.path, "db": options.get("DB", 0)}
        path_db = parts.path.strip("/")
        db = int(path_db) if path_db.isdigit() else options.get("DB", 0)
        return {"host": parts.hostname, "port": parts.port or 6379, "db": db}
    return {
        "host": options.get("HOST", "localhost"),
        "port": options.get("PORT", 6379),
        "db": options.get("DB", 0),
    }


def client_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """Translate queue options into keyword arguments for ``redis.Redis``."""
    kwargs: dict[str, Any] = {}
    for key in ("HOST", "PORT", "DB", "USERNAME", "PASSWORD", "SOCKET_TIMEOUT"):
        if key in options:
            kwargs[key.lower()] = options[key]
    if uses_ssl(options):
        kwargs["ssl"] = True
        for key in conf.SSL_KEYS:
            if key in options:
                kwargs[key.lower()] = options[key]
    kwargs.update(options.get("CONNECTION_KWARGS") or {})
    return kwargs


def uses_ssl(options: dict[str, Any]) -> bool:
    """Tell whether a queue's connection uses TLS (``SSL`` or ``rediss://``)."""
    url = options.get("URL")
    return bool(options.get("SSL")) or (
        isinstance(url, str) and url.startswith("rediss://")
    )


def _cache_key(options: dict[str, Any]) -> tuple:
    relevant = {
        key: value
        for key, value in options.items()
        if key in conf.CONNECTION_KEYS or key in conf.SSL_KEYS
    }
    if conf.uses_embedded(options):
        relevant["EMBEDDED_DIR"] = str(conf.get_embedded_dir())
    return _freeze(relevant)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def build_client(options: dict[str, Any]) -> redis.Redis:
    """Return a new client for queue options, before any connection is made."""
    kwargs = client_kwargs(options)
    if conf.uses_embedded(options):
        path = embedded.ensure_server(conf.get_embedded_dir())
        # A unix socket has no host, port or TLS.
        for key in list(kwargs):
            if key in ("host", "port") or key.startswith("ssl"):
                del kwargs[key]
        return redis.Redis(unix_socket_path=str(path), **kwargs)
    if options.get("SENTINELS"):
        return _sentinel_master(options, kwargs)
    if options.get("URL"):
        for key in ("host", "port"):
            kwargs.pop(key, None)
        # from_url() picks the connection class from the scheme alone, and a
        # plain Connection rejects the ssl argument, so SSL picks it here.
        if kwargs.pop("ssl", False):
            kwargs.setdefault("connection_class", redis.SSLConnection)
        return redis.Redis.from_url(options["URL"], **kwargs)
    return redis.Redis(**kwargs)


def _sentinel_master(options: dict[str, Any], kwargs: dict[str, Any]) -> redis.Redis:
    from redis.sentinel import Sentinel

    for key in ("host", "port"):
        kwargs.pop(key, None)
    sentinels = [tuple(address) for address in options["SENTINELS"]]
    sentinel = Sentinel(
        sentinels, sentinel_kwargs=options.get("SENTINEL_KWARGS") or {}, **kwargs
    )
    return sentinel.master_for(options["MASTER_NAME"])


def _cache_connection(alias: str) -> redis.Redis:
    try:
        from django_redis import get_redis_connection
    except ImportError:
        raise ImproperlyConfigured(
            "USE_REDIS_CACHE needs django-redis. Install it with "
            "pip install 'django-rq-lite[django-redis]'."
        ) from None
    # django-redis keeps one client per cache alias, so its pool is reused.
    return get_redis_connection(alias)
