"""A one-file Django site with the settings Heroku's Django guides give for HTTPS: every
plain-HTTP request is redirected to https, and the router's X-Forwarded-Proto says which
requests came over TLS."""

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    SECRET_KEY="not-a-secret-in-a-test-app",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.security.SecurityMiddleware"],
    SECURE_SSL_REDIRECT=True,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
)


def index(request):
    return HttpResponse(f"secure={request.is_secure()} host={request.get_host()}")


urlpatterns = [path("", index)]
application = get_wsgi_application()
