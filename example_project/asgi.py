"""The ASGI entry point: `python -m daphne example_project.asgi:application`.

Channels' ProtocolTypeRouter sends HTTP to Django; a project that adds websockets adds a "websocket" route.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
# Set up Django before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402

if settings.DEBUG:
    # The admin's CSS and JavaScript, as runserver serves them; in production a web server or WhiteNoise does.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

application = ProtocolTypeRouter({"http": django_asgi_app})
