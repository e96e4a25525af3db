from django.apps import AppConfig
from django.core.signals import setting_changed


def _reset_on_setting_change(setting: str, **kwargs: object) -> None:
    if setting in ("RQ_QUEUES", "RQ", "CACHES", "BASE_DIR"):
        from .connections import reset_connections

        reset_connections()


class DjangoRQLiteConfig(AppConfig):
    name = "django_rq_lite"
    verbose_name = "Background jobs"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks.

        setting_changed.connect(
            _reset_on_setting_change, dispatch_uid="django_rq_lite.reset"
        )
