"""Background jobs of the sign-up app, which a worker imports by path."""

import logging

from django.core.mail import send_mail
from django.db.models import F
from django.utils import timezone

from django_rq_lite import job

from .models import BlockedDomain, Signup

logger = logging.getLogger("signups.jobs")

# Keep finished jobs a day and failed ones a week, so the results page and
# the failed-jobs dashboard can show them.
RESULT_TTL = 24 * 3600
FAILURE_TTL = 7 * 24 * 3600


class DomainBlocked(Exception):
    """The sign-up's mail domain is on the blocked-domains list."""


@job("default", result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL)
def send_confirmation(signup_id):
    """Send the confirmation e-mail of sign-up ``signup_id``.

    Raise ``DomainBlocked`` when its domain is a ``BlockedDomain``, after
    recording the error on the sign-up.
    """
    Signup.objects.filter(pk=signup_id).update(attempts=F("attempts") + 1)
    signup = Signup.objects.get(pk=signup_id)

    blocked = BlockedDomain.objects.filter(domain=signup.domain).first()
    if blocked is not None:
        message = (
            f"Mail to {signup.domain} is blocked ({blocked.reason or 'no reason'}). "
            "Delete the domain under Blocked domains in the admin, then "
            "requeue this job."
        )
        Signup.objects.filter(pk=signup_id).update(
            status=Signup.Status.FAILED, last_error=message
        )
        raise DomainBlocked(message)

    send_mail(
        subject="Please confirm your sign-up",
        message=(
            f"Hello {signup.name},\n\n"
            "Thank you for signing up to the django-rq-lite demo site.\n"
        ),
        from_email=None,
        recipient_list=[signup.email],
    )
    Signup.objects.filter(pk=signup_id).update(
        status=Signup.Status.SENT, last_error="", sent_at=timezone.now()
    )
    logger.info("Sent confirmation signup_id=%s", signup_id)
    return f"Confirmation e-mail sent for sign-up {signup_id}"
