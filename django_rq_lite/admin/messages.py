"""Messages that report what a bulk action did."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import ngettext

from ..dashboard.actions import ActionCounts

# The past tense of each action verb, for success messages.
PAST_TENSE = {
    "requeue": "Requeued",
    "delete": "Deleted",
    "cancel": "Canceled",
    "enqueue now": "Enqueued",
}


def report_counts(
    request: HttpRequest,
    verb: str,
    list_name: str,
    queue_name: str,
    counts: ActionCounts,
) -> None:
    """Add one message for each kind of outcome that ``counts`` records."""
    messages.success(
        request,
        ngettext(
            "%(verb)s %(count)d %(list)s job of queue %(queue)s.",
            "%(verb)s %(count)d %(list)s jobs of queue %(queue)s.",
            counts.done,
        )
        % {
            "verb": PAST_TENSE[verb],
            "count": counts.done,
            "list": list_name,
            "queue": queue_name,
        },
    )
    if counts.missing:
        messages.warning(
            request,
            ngettext(
                "Removed %(count)d entry whose job data has expired.",
                "Removed %(count)d entries whose job data has expired.",
                counts.missing,
            )
            % {"count": counts.missing},
        )
    if counts.not_in_list:
        messages.warning(
            request,
            ngettext(
                "%(count)d job left the %(list)s list before it could be changed.",
                "%(count)d jobs left the %(list)s list before they could be changed.",
                counts.not_in_list,
            )
            % {"count": counts.not_in_list, "list": list_name},
        )
    if counts.unreadable:
        messages.error(
            request,
            ngettext(
                "%(count)d job was not changed because its function cannot be "
                "imported or its data cannot be read. Open it to see why, then "
                "fix the code or delete it.",
                "%(count)d jobs were not changed because their function cannot be "
                "imported or their data cannot be read. Open them to see why, then "
                "fix the code or delete them.",
                counts.unreadable,
            )
            % {"count": counts.unreadable},
        )
