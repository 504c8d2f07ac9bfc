"""Schemathesis hooks for test_api_fuzz.py (loaded by the `schemathesis run` it starts).

Requests mostly use identifiers of real resources (an app with a Redis add-on, a release,
a build, a source, a log session), so they get past "not found" into the routes' own
checks: three in four, chosen from the generated values so a run is reproducible. When the
fuzzer destroys the app or its add-on, they are made again. ``COVE_FUZZ_API_URL``,
``COVE_FUZZ_TOKEN``, ``COVE_FUZZ_CA`` (Cove's CA) and ``COVE_FUZZ_REAL`` (the identifiers,
by path parameter name) come from the test.
"""

from __future__ import annotations

import json
import os
import ssl
import zlib
from typing import Any

import httpx
import schemathesis

REAL: dict[str, str] = json.loads(os.environ.get("COVE_FUZZ_REAL", "{}"))


def api(method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {os.environ['COVE_FUZZ_TOKEN']}"}
    url = os.environ["COVE_FUZZ_API_URL"] + path
    verify = ssl.create_default_context(cafile=os.environ["COVE_FUZZ_CA"])
    return httpx.request(method, url, headers=headers, timeout=60, verify=verify, **kwargs)


def ensure_real(app: str, addon: str) -> None:
    """The app and its Redis add-on exist."""
    if api("GET", f"/apps/{app}").status_code == 404:
        api("POST", "/apps", json={"name": app}).raise_for_status()
    if api("GET", f"/apps/{app}/addons/{addon}").status_code == 404:
        body = {"plan": "heroku-redis", "name": addon}
        api("POST", f"/apps/{app}/addons", json=body).raise_for_status()


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    params = case.path_parameters
    if params and zlib.crc32(repr(sorted(params.items())).encode()) % 4:
        for name in params:
            if name in REAL:
                params[name] = REAL[name]


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if case.method == "DELETE" and response.status_code == 200:
        ensure_real(REAL["ident"], REAL["addon_ident"])


@schemathesis.check
def heroku_error_body(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error is Heroku's ``{"id", "message"}`` JSON."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} without a JSON body") from None
    if not (isinstance(body, dict) and set(body) == {"id", "message"}):
        raise AssertionError(f"{response.status_code} body is not {{id, message}}: {body!r}")
    if not (isinstance(body["id"], str) and body["id"] and body["message"]):
        raise AssertionError(f"{response.status_code} with an empty id or message: {body!r}")
    return True
