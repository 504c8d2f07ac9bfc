"""Every input the API takes answers Heroku's JSON errors, never a 5xx.

First the inputs that used to answer a plain-text 500; then schemathesis generates requests
from the OpenAPI schema a real `cove server` serves (``/openapi.json``) and sends them over
HTTP with the admin token. The server is this module's own, so the destructive operations
the fuzzer calls (destroying apps and add-ons, restarting dynos) touch nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import CoveServer, running_server

APP = "fuzzed"
ADDON = "fuzzed-redis"
HOOKS = Path(__file__).with_name("api_fuzz_hooks.py")
# Test cases per API operation and phase, and a fixed seed: the run is reproducible and
# stays within a couple of minutes on a busy two-core machine.
EXAMPLES = 20
SEED = 20251206
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "heroku_error_body",  # api_fuzz_hooks.py
)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    with running_server(tmp_path_factory.mktemp("fuzz")) as server:
        yield server


# Inputs that answered a plain-text 500 (or waited for a body), and what they answer now.
KNOWN = [
    ("GET", "/apps/{app}/releases/99999999999999999999", None, 404, "not_found"),
    ("GET", "/apps/{app}/releases/²", None, 404, "not_found"),
    ("POST", "/apps/{app}/releases", {"release": "99999999999999999999"}, 404, "not_found"),
    ("POST", "/apps/{app}/log-sessions", '{"lines": Infinity}', 422, "invalid_params"),
    ("POST", "/apps/{app}/addons", {"plan": "heroku-redis", "name": 5}, 422, "invalid_params"),
    (
        "POST",
        "/apps/{app}/addons",
        {"plan": "heroku-redis", "attachment": {"name": [None]}},
        422,
        "invalid_params",
    ),
    (
        "PATCH",
        "/apps/{app}/formation",
        {"updates": [{"type": "web", "dyno_size": "basic"}]},
        422,
        "invalid_params",
    ),
    ("POST", "/addon-attachments", {"app": {}, "addon": "x", "name": 1}, 422, "invalid_params"),
    ("POST", "/apps", "{not json", 400, "bad_request"),
    ("PATCH", "/apps/{app}/config-vars", "[1, 2]", 422, "invalid_params"),
    ("GET", "/no/such/path", None, 404, "not_found"),
    ("PUT", "/apps", None, 405, "method_not_allowed"),
    ("POST", "/apps/no-such-app/sources", None, 404, "not_found"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "error_id"), KNOWN)
def test_known_bad_inputs_get_heroku_errors(
    fuzz_server: CoveServer,
    method: str,
    path: str,
    body: object,
    status: int,
    error_id: str,
) -> None:
    app = "known-inputs"
    if fuzz_server.api("GET", f"/apps/{app}").status_code == 404:
        assert fuzz_server.api("POST", "/apps", json={"name": app}).status_code == 201
    kwargs: dict[str, object] = {}
    if isinstance(body, str):
        kwargs = {"content": body, "headers": {"Content-Type": "application/json"}}
    elif body is not None:
        kwargs = {"json": body}
    response = fuzz_server.api(method, path.format(app=app), **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert set(error) == {"id", "message"} and error["id"] == error_id, error


def test_field_errors_name_the_field(fuzz_server: CoveServer) -> None:
    assert fuzz_server.api("POST", "/apps", json={"name": "named-fields"}).status_code == 201
    for path, body, message in [
        (
            "/apps/named-fields/addons",
            {"plan": "heroku-redis", "name": 5},
            "name must be a string.",
        ),
        (
            "/apps/named-fields/addons",
            {"plan": "heroku-redis", "attachment": {"name": 5}},
            "attachment.name must be a string.",
        ),
        ("/apps/named-fields/log-sessions", {"lines": "many"}, "lines must be a number."),
        ("/addon-attachments", {"app": "named-fields"}, "addon is required."),
    ]:
        response = fuzz_server.api("POST", path, json=body)
        assert response.json() == {"id": "invalid_params", "message": message}
    response = fuzz_server.api(
        "POST", "/apps", content="{", headers={"Content-Type": "application/json"}
    )
    assert response.json()["message"].startswith("The request body is not valid JSON:")


def real_identifiers(server: CoveServer) -> dict[str, str]:
    """Identifiers of real resources, by the path parameter names of the schema."""
    assert server.api("POST", "/apps", json={"name": APP}).status_code == 201
    body = {"plan": "heroku-redis", "name": ADDON}
    assert server.api("POST", f"/apps/{APP}/addons", json=body).status_code == 201
    source = server.api("POST", "/sources").json()["source_blob"]["put_url"]
    session = server.api("POST", f"/apps/{APP}/log-sessions", json={"lines": 1}).json()
    release = server.api("GET", f"/apps/{APP}/releases/1").json()
    # A build that fails at once (nothing listens on port 9): its id is real all the same.
    blob = {"source_blob": {"url": "http://127.0.0.1:9/source.tgz"}}
    build = server.api("POST", f"/apps/{APP}/builds", json=blob).json()
    return {
        "ident": APP,
        "addon_ident": ADDON,
        "attachment": "REDIS",
        "release": "1",
        "release_id": release["id"],
        "type_": "web",
        "dyno": "web.1",
        "build_id": build["id"],
        "source_id": source.rsplit("/", 1)[1],
        "token": session["logplex_url"].rsplit("/", 1)[1],
    }


def test_fuzzed_requests_get_heroku_errors_never_5xx(
    fuzz_server: CoveServer, tmp_path: Path
) -> None:
    # The token goes through the environment, never the command line.
    config = tmp_path / "schemathesis.toml"
    config.write_text('headers = { Authorization = "Bearer ${COVE_FUZZ_TOKEN}" }\n')
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "COVE_FUZZ_TOKEN": fuzz_server.admin_token,
        "COVE_FUZZ_API_URL": fuzz_server.api_url,
        "COVE_FUZZ_CA": str(fuzz_server.ca_file),
        "COVE_FUZZ_REAL": json.dumps(real_identifiers(fuzz_server)),
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "--no-color",
            "run",
            f"{fuzz_server.api_url}/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--request-timeout",
            "60",
            "--tls-verify",
            str(fuzz_server.ca_file),
            "--no-shrink",
        ],
        cwd=tmp_path,  # schemathesis keeps its state in the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
