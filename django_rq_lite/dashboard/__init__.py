"""Service functions behind the admin dashboard, with no HTTP in them.

``queues`` counts jobs and pages through job ids, ``jobs`` reads jobs for
display, and ``actions`` changes them. Each function takes an RQ ``Queue``
(from ``django_rq_lite.queues.get_queue``) or a configured queue name.
"""
