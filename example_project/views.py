"""Slack's three URLs as ordinary async Django views, in front of the Bolt app in slack_app.py.

Being plain views, they get Django's middleware and per-request database connection handling; under ASGI
they run on the event loop, and the store does its database work on Django's per-request thread.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from slack_bolt.async_app import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from example_project.slack_app import app


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Links to the admin and to Slack's URLs."""
    events_url = request.build_absolute_uri(reverse("slack-events"))
    return render(request, "example_project/home.html", {"events_url": events_url})


@csrf_exempt  # Slack signs its requests; Bolt checks the signature with the signing secret
@require_POST
async def events(request: HttpRequest) -> HttpResponse:
    return to_django(await app.async_dispatch(to_bolt(request)))


@require_GET
async def install(request: HttpRequest) -> HttpResponse:
    """The "Add to Slack" page: issues an OAuth state and sets it as a cookie."""
    return to_django(await app.oauth_flow.handle_installation(to_bolt(request)))


@require_GET
async def oauth_redirect(request: HttpRequest) -> HttpResponse:
    """Where Slack sends the installer back: checks the state, exchanges the code, saves the installation."""
    return to_django(await app.oauth_flow.handle_callback(to_bolt(request)))


def to_bolt(request: HttpRequest) -> AsyncBoltRequest:
    return AsyncBoltRequest(
        body=request.body.decode("utf-8"),
        query=request.META.get("QUERY_STRING", ""),
        headers=dict(request.headers),
    )


def to_django(bolt_response: BoltResponse) -> HttpResponse:
    response = HttpResponse(bolt_response.body, status=bolt_response.status)
    for name, value in bolt_response.first_headers_without_set_cookie().items():
        response[name] = value
    # A header can be set once; cookies go through response.cookies, each with Bolt's own attributes.
    for cookie in bolt_response.cookies():
        response.cookies.update(cookie)
    return response
