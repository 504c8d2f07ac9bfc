"""Git smart HTTP: ``git http-backend`` (CGI) behind an ASGI route, streamed both ways so
the pre-receive hook's build output reaches the pusher live as ``remote:`` lines."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from cove.api import limits
from cove.api.auth import token_from_header
from cove.api.routes.common import ctx
from cove.domain.errors import NotFound, Unauthorized
from cove.gitreceiver.deploy_ref import settle
from cove.gitreceiver.push_locks import push_lock
from cove.gitreceiver.repos import ensure_repo
from cove.services import access, accounts, apps, builds
from cove.tls import TlsFiles

router = APIRouter()


def _denied(message: str) -> Response:
    return PlainTextResponse(
        message + "\n", status_code=401, headers={"WWW-Authenticate": 'Basic realm="Cove"'}
    )


@router.get("/{name}.git/info/refs")
@router.post("/{name}.git/git-receive-pack")
@router.post("/{name}.git/git-upload-pack")
async def git_endpoint(request: Request, name: str) -> Response:
    context = ctx(request)
    token = token_from_header(request.headers.get("authorization"))
    if token is None:
        return _denied("Authentication required: use your Cove API token as the password.")
    try:
        account = await run_in_threadpool(accounts.authenticate, context.store, token)
        app = await run_in_threadpool(apps.get, context.store, name)
    except Unauthorized:
        return _denied("Invalid credentials: the password must be a valid Cove API token.")
    except NotFound:
        return PlainTextResponse(f"Couldn't find that app: {name}\n", status_code=404)
    if not await run_in_threadpool(access.can_access, context.store, app, account):
        return PlainTextResponse(f"Couldn't find that app: {name}\n", status_code=404)
    try:
        # Only now, with the pusher known, is the size of the push looked at; a chunked
        # push is stopped in _feed when it grows past the limit.
        limits.check_declared(request.scope)
    except limits.BodyTooLarge as exc:
        return PlainTextResponse(f"{exc.detail} (COVE_PUSH_MAX_BYTES)\n", status_code=413)
    repo = await run_in_threadpool(ensure_repo, context.settings.repos_dir, app.name)

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(context.settings.repos_dir),
        "GIT_PROJECT_ROOT": str(repo.parent),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": request.url.path,
        "QUERY_STRING": request.url.query,
        "REQUEST_METHOD": request.method,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "REMOTE_USER": account.email,
        "REMOTE_ADDR": request.client.host if request.client else "",
        # What the pre-receive hook needs to call the API as the pusher.
        "COVE_API_URL": context.settings.internal_api_url,
        "COVE_CA_FILE": str(TlsFiles(context.settings.tls_dir).ca_cert),
        "COVE_API_KEY": token,
        "COVE_APP": app.name,
        # git itself refuses a pack past the limit, with a message the pusher sees
        # ("pack exceeds maximum allowed size"); the body guard stops the request itself
        # a little further on, whatever the client sends.
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "receive.maxInputSize",
        "GIT_CONFIG_VALUE_0": str(context.settings.push_max_bytes),
    }
    for header, var in (
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
        ("content-length", "CONTENT_LENGTH"),
    ):
        if header in request.headers:
            env[var] = request.headers[header]

    lock = push_lock(app.id)
    if request.url.path.endswith("/git-receive-pack"):
        # Pushes to one app run one at a time; the hook re-checks that the branch did not
        # move while this push waited, so the later push is told to fetch first.
        await lock.acquire()
        return await _run_cgi(request, env, repo, release=lock.release)
    if request.query_params.get("service") == "git-receive-pack" and not lock.locked():
        # A push starts: first settle a previous push whose release went live after git
        # gave up on it (e.g. its release phase finished after a restart). Only while no
        # push is in flight, whose own ref update this would race.
        async with lock:
            await run_in_threadpool(
                settle, repo, lambda build_id: builds.went_live(context.store, build_id)
            )
    return await _run_cgi(request, env, repo, release=None)


async def _run_cgi(request: Request, env: dict[str, str], repo: Path, release: object) -> Response:
    def done() -> None:
        if callable(release):
            release()

    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "http-backend",
            env=env,
            cwd=str(repo),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        feeder = asyncio.get_running_loop().create_task(_feed(request, proc))
        assert proc.stdout is not None
        status, headers = await _read_cgi_headers(proc.stdout)
    except BaseException:
        done()
        raise

    async def body() -> AsyncGenerator[bytes, None]:
        assert proc.stdout is not None
        try:
            while chunk := await proc.stdout.read(65536):
                yield chunk
            await feeder
            await proc.wait()
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            feeder.cancel()
            done()

    headers.setdefault("content-type", "application/octet-stream")
    return _CgiResponse(body(), status, headers)


class _CgiResponse(Response):
    """Streams the CGI output. Unlike Starlette's StreamingResponse it never calls
    ``receive()``: the request body is still being read into git by ``_feed``, and a second
    reader (Starlette's disconnect listener) would swallow pieces of the pack."""

    def __init__(
        self, body: AsyncGenerator[bytes, None], status: int, headers: dict[str, str]
    ) -> None:
        # Not Response.__init__: it would add "content-length: 0" for the empty body.
        self.status_code = status
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.background = None
        self._chunks = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        try:
            async for chunk in self._chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self._chunks.aclose()


async def _feed(request: Request, proc: asyncio.subprocess.Process) -> None:
    """Copy the request body into git. git may finish (and close its stdin) before the
    body's last, empty message: the rest is then read and dropped, never an error."""
    assert proc.stdin is not None
    open_ = True
    try:
        async for chunk in request.stream():
            if not (open_ and chunk):
                continue
            try:
                proc.stdin.write(chunk)
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError, RuntimeError):
                # RuntimeError: uvloop's answer to writing into a pipe that is already closed.
                open_ = False
    except limits.BodyTooLarge:
        # Past COVE_PUSH_MAX_BYTES: git gets a truncated pack and rejects the push.
        pass
    except ClientDisconnect:
        # The pusher is gone mid-pack: git ends now. (Short of its CONTENT_LENGTH, git
        # http-backend waits for the rest, or spins on EOF, holding the app's push lock.)
        # SIGTERM, which `git` passes on to git-http-backend, its child: SIGKILL would
        # leave that running, holding the pipes.
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        return
    if open_:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
            proc.stdin.close()


async def _read_cgi_headers(stdout: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status = 200
    headers: dict[str, str] = {}
    while True:
        line = (await stdout.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            return status, headers
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        else:
            headers[key.strip().lower()] = value.strip()
