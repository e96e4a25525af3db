"""A URL configuration with a second admin site, for the custom-site tests."""

from django.contrib.admin import AdminSite
from django.urls import path

from django_rq_lite.admin import register

other_site = AdminSite(name="otheradmin")
register(other_site)

urlpatterns = [path("ops/", other_site.urls)]
