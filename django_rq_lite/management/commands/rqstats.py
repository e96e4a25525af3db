import json
import time

from django.core.management.base import BaseCommand, CommandError

from django_rq_lite import conf
from django_rq_lite.management.helpers import check_queue_names
from django_rq_lite.metrics import COUNT_NAMES, collect_stats


class Command(BaseCommand):
    help = "Print the job counts and live workers of each queue, as a table or as JSON."

    def add_arguments(self, parser):
        parser.add_argument(
            "queues",
            nargs="*",
            metavar="queue",
            help="Queue names from RQ_QUEUES (default: every configured queue).",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print one JSON object per report instead of a table.",
        )
        parser.add_argument(
            "--interval",
            type=float,
            help="Print a new report every this many seconds until interrupted.",
        )
        parser.add_argument(
            "--count",
            type=int,
            help="With --interval, stop after this many reports.",
        )

    def handle(self, *args, **options):
        names = options["queues"] or conf.get_queue_names()
        check_queue_names(names)
        interval = options["interval"]
        count = options["count"]
        if interval is not None and interval <= 0:
            raise CommandError(
                f"--interval {interval} is not positive. Give a number of "
                "seconds greater than 0."
            )
        if count is not None and count < 1:
            raise CommandError(f"--count {count} is less than 1. Give 1 or more.")
        if interval is None:
            count = 1

        printed = 0
        try:
            while True:
                self._print_report(names, options["json"])
                printed += 1
                if count is not None and printed >= count:
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            pass

    def _print_report(self, names, as_json):
        stats = collect_stats(names)
        if as_json:
            queues = {item.name: item.as_dict() for item in stats}
            self.stdout.write(json.dumps({"queues": queues}, sort_keys=True))
        else:
            self.stdout.write(format_table(stats))
        self.stdout.flush()

        errors = [item for item in stats if item.error]
        for item in errors:
            self.stderr.write(f"Queue {item.name!r}: {item.error}")


def format_table(stats):
    """Return the statistics as a text table, one queue per row."""
    header = ["queue", *COUNT_NAMES, "workers"]
    rows = []
    for item in stats:
        if item.error:
            rows.append([item.name] + ["-"] * (len(header) - 1))
            continue
        counts = [str(item.counts[name]) for name in COUNT_NAMES]
        rows.append([item.name, *counts, str(item.workers)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        cells += [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)
