from django.http import HttpRequest, HttpResponse
from django.urls import path

TEXT = "Hello from Django!"


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(TEXT, content_type="text/plain")


urlpatterns = [path("", index)]
