from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("sso/login/", auth_views.LoginView.as_view(), name="sso-login"),
    path("ops/jobs/", include("taskboard.urls")),
]
