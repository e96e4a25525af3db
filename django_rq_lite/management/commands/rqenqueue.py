import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string
from redis.exceptions import RedisError

from django_rq_lite.dashboard.jobs import is_valid_job_id
from django_rq_lite.decorators import JobFunction
from django_rq_lite.management.helpers import get_queue_or_error, redis_error


class Command(BaseCommand):
    help = (
        "Enqueue a call of the function at a dotted path and print the job id. "
        "Arguments are strings unless --json is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "function", help="Dotted path of the function, e.g. myapp.jobs.cleanup."
        )
        parser.add_argument(
            "call_args",
            nargs="*",
            metavar="arg",
            help="Positional arguments of the call.",
        )
        parser.add_argument(
            "--queue",
            default="default",
            help="Queue name from RQ_QUEUES (default: 'default').",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help='Parse each argument as a JSON value, so 3 is a number and "3" '
            "a string.",
        )
        parser.add_argument(
            "--kwargs",
            default="{}",
            help="Keyword arguments as one JSON object, e.g. '{\"days\": 7}'.",
        )
        parser.add_argument("--job-id", help="Job id (default: RQ's random id).")
        parser.add_argument(
            "--job-timeout",
            type=int,
            help="Seconds the job may run (default: the queue's DEFAULT_TIMEOUT).",
        )

    def handle(self, *args, **options):
        func = self._import_function(options["function"])
        call_args = self._parse_args(options["call_args"], options["json"])
        call_kwargs = self._parse_kwargs(options["kwargs"])
        queue = get_queue_or_error(options["queue"])
        job_options = {"job_id": options["job_id"]}
        timeout = options["job_timeout"]
        if timeout is not None:
            if timeout < 1 and timeout != -1:
                raise CommandError(
                    f"--job-timeout is {timeout}, but it must be at least 1, or "
                    "-1 for no timeout."
                )
            job_options["job_timeout"] = timeout
        try:
            if options["job_id"] is not None:
                self._check_job_id(queue, options["job_id"])
            job = queue.enqueue(func, args=call_args, kwargs=call_kwargs, **job_options)
        except RedisError as error:
            raise redis_error(error, f"enqueue on queue {queue.name!r}") from error
        self.stdout.write(job.id)

    def _check_job_id(self, queue, job_id):
        """Raise ``CommandError`` for an id that RQ rejects or a job already uses."""
        if not is_valid_job_id(job_id):
            raise CommandError(
                f"--job-id {job_id!r} is invalid. Use only letters, digits, "
                "underscores and dashes, as RQ requires."
            )
        status = queue.connection.hget(queue.job_class.key_for(job_id), "status")
        if status is not None:
            # RQ's enqueue would overwrite that job without a word.
            raise CommandError(
                f"--job-id {job_id!r} is taken by a {status.decode()} job. Delete "
                "it first (rqdelete), or give another id."
            )

    def _import_function(self, path):
        try:
            func = import_string(path)
        except ImportError as error:
            raise CommandError(
                f"Function {path!r} cannot be imported: {error}. Give the full "
                "dotted path of a module-level function."
            ) from error
        if isinstance(func, JobFunction):
            func = func.func
        if isinstance(func, type):
            raise CommandError(
                f"{path!r} is a class, not a function. Give the dotted path of "
                "a module-level function."
            )
        if not callable(func):
            raise CommandError(
                f"{path!r} is a {type(func).__name__}, not a function. Give the "
                "dotted path of a module-level function."
            )
        return func

    def _parse_args(self, values, as_json):
        if not as_json:
            return tuple(values)
        parsed = []
        for value in values:
            try:
                parsed.append(json.loads(value))
            except json.JSONDecodeError as error:
                raise CommandError(
                    f"Argument {value!r} is not valid JSON: {error}. Quote "
                    "strings in JSON, e.g. '\"text\"', or leave out --json."
                ) from error
        return tuple(parsed)

    def _parse_kwargs(self, text):
        try:
            kwargs = json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(
                f"--kwargs is not valid JSON: {error}. Give one JSON object, "
                "e.g. '{\"days\": 7}'."
            ) from error
        if not isinstance(kwargs, dict):
            raise CommandError(
                f"--kwargs must be a JSON object, not {type(kwargs).__name__}. "
                "Give e.g. '{\"days\": 7}'."
            )
        return kwargs
