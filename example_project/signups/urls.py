from django.urls import path

from . import views

app_name = "signups"

urlpatterns = [
    path("", views.signup, name="signup"),
    path("signups/", views.results, name="results"),
]
