"""Reading a dashboard form: ``application/x-www-form-urlencoded`` only (the pages have no
file uploads), at most ``MAX_FORM_BYTES``, and only from this origin."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request

# Config vars are the largest field (Heroku caps an app's at 32 KB in all).
MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 100


class FormRefused(Exception):
    """A form that is not read: its status and the message shown."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def same_origin(request: Request) -> bool:
    """A browser names the page a POST comes from (``Origin``, else ``Referer``); one from
    another site is refused even before its CSRF token is checked. Clients that send
    neither (not a browser) still need the token."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source is None
    parts = urlsplit(source)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.url.scheme}://{request.url.netloc}"


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields (the last value of a repeated name)."""
    if not same_origin(request):
        raise FormRefused(403, "This form was sent from another site, and was refused.")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise FormRefused(415, "Forms must be sent as application/x-www-form-urlencoded.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormRefused(413, "The form is larger than 64 KiB.")
    try:
        fields = parse_qsl(
            body.decode(), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise FormRefused(400, "The form could not be read.") from None
    return dict(fields)
