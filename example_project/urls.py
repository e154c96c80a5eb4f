from django.contrib import admin
from django.urls import path

from example_project import views

urlpatterns = [
    # The admin's "View site" link leads here.
    path("", views.home),
    path("admin/", admin.site.urls),
    # The paths Bolt expects (AsyncOAuthSettings' install_path and redirect_uri_path defaults); set the
    # Redirect URL of your Slack app to https://<your host>/slack/oauth_redirect.
    path("slack/events", views.events, name="slack-events"),
    path("slack/install", views.install, name="slack-install"),
    path("slack/oauth_redirect", views.oauth_redirect),
]
