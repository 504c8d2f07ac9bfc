"""A typed, synchronous client for Cove's Heroku Platform API v3 (docs/api.md).

One method per endpoint. Non-2xx answers raise `ApiError`; transport failures raise
`ApiConnectionError`. Streaming endpoints (log sessions, build output) are generators of lines.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote, urlsplit

import httpx

from cove.client.pipeline_types import (
    Pipeline,
    PipelineCoupling,
    PipelinePromotion,
    PromotionTarget,
    Slug,
)
from cove.client.types import (
    Account,
    AddOn,
    AddonInfo,
    App,
    Attachment,
    Backup,
    Build,
    BuildpackInstallation,
    Credentials,
    Domain,
    Dyno,
    Formation,
    FormationUpdate,
    LogDrain,
    LogSession,
    OAuthAuthorization,
    Release,
    SniEndpoint,
    Source,
    WindowSize,
)

ACCEPT = "application/vnd.heroku+json; version=3"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
STREAM_TIMEOUT = httpx.Timeout(None, connect=10.0)


class ApiError(Exception):
    """A non-2xx answer from the API, parsed from its `{"id", "message"}` body."""

    def __init__(self, status: int, id: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.id = id
        self.message = message

    def __repr__(self) -> str:
        return f"ApiError(status={self.status!r}, id={self.id!r}, message={self.message!r})"

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Build the error from a (fully read) response, tolerating non-JSON bodies."""
        error_id = "unknown"
        message = ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            if isinstance(body.get("id"), str):
                error_id = body["id"]
            if isinstance(body.get("message"), str):
                message = body["message"]
        if not message:
            text = response.text.strip()
            reason = response.reason_phrase or "error"
            message = text if text and body is None and len(text) < 500 else reason
            message = f"HTTP {response.status_code}: {message}"
        return cls(response.status_code, error_id, message)


class ApiConnectionError(Exception):
    """The API could not be reached (connection refused, DNS failure, timeout...)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"could not reach {url}: {reason}")
        self.url = url
        self.reason = reason


def _seg(value: str | int) -> str:
    return quote(str(value), safe="")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port


class CoveClient:
    """Client for one Cove API server; `token` may be None for unauthenticated calls."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        user_agent: str = "cove-client/0.1",
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        headers = {"Accept": ACCEPT, "User-Agent": user_agent}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            transport=transport,
            timeout=timeout,
            verify=verify,
        )

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CoveClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------

    def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            response = self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise ApiConnectionError(str(request.url), str(exc) or type(exc).__name__) from exc
        if response.is_success:
            return response
        try:
            response.read()
        except httpx.TransportError:
            pass
        finally:
            response.close()
        raise ApiError.from_response(response)

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Any:
        request = self._http.build_request(method, path, json=json, headers=headers)
        if auth is not None:
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request.headers["Authorization"] = f"Basic {credentials}"
        response = self._send(request)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    def _is_same_origin(self, url: str) -> bool:
        return _origin(url) == _origin(self.base_url)

    def _stream_lines(self, url: str) -> Iterator[str]:
        """GET a capability URL (no Authorization) and yield its text/plain body line by line."""
        request = self._http.build_request(
            "GET", url, headers={"Accept": "text/plain"}, timeout=STREAM_TIMEOUT
        )
        request.headers.pop("Authorization", None)
        response = self._send(request, stream=True)
        try:
            try:
                yield from response.iter_lines()
            except httpx.TransportError as exc:
                raise ApiConnectionError(url, str(exc) or type(exc).__name__) from exc
        finally:
            response.close()

    # -- account & auth ---------------------------------------------------------------------

    def get_account(self) -> Account:
        return cast(Account, self._request("GET", "/account"))

    def change_password(self, current: str | None, new: str) -> Account:
        """`PATCH /account` with the current password (none while the account has none)."""
        body: dict[str, Any] = {"new_password": new}
        if current:
            body["password"] = current
        return cast(Account, self._request("PATCH", "/account", json=body))

    def get_rate_limits(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._request("GET", "/account/rate-limits"))

    def create_authorization(
        self,
        email: str,
        password: str,
        *,
        description: str | None = None,
        expires_in: int | None = None,
        scope: Sequence[str] | None = None,
    ) -> OAuthAuthorization:
        """`POST /oauth/authorizations` with HTTP Basic `email:password` (`heroku login -i`)."""
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = description
        if expires_in is not None:
            body["expires_in"] = expires_in
        if scope is not None:
            body["scope"] = list(scope)
        data = self._request("POST", "/oauth/authorizations", json=body, auth=(email, password))
        return cast(OAuthAuthorization, data)

    def create_token(self, description: str) -> OAuthAuthorization:
        """`POST /oauth/authorizations` with this client's token: a new token."""
        data = self._request("POST", "/oauth/authorizations", json={"description": description})
        return cast(OAuthAuthorization, data)

    def list_authorizations(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._request("GET", "/oauth/authorizations"))

    def revoke_authorization(self, authorization_id: str) -> dict[str, Any]:
        path = f"/oauth/authorizations/{quote(authorization_id, safe='')}"
        return cast(dict[str, Any], self._request("DELETE", path))

    def delete_session(self) -> None:
        """`DELETE /oauth/sessions/~`: revokes the token in use (logout)."""
        self._request("DELETE", "/oauth/sessions/~")

    # -- users (admins) and collaborators ---------------------------------------------------

    def list_users(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._request("GET", "/users"))

    def create_user(self, email: str, password: str | None) -> dict[str, Any]:
        """Without a password, the answer holds a one-time ``invitation`` token."""
        body = {"email": email} if password is None else {"email": email, "password": password}
        return cast(dict[str, Any], self._request("POST", "/users", json=body))

    def accept_invitation(self, invitation: str, password: str) -> OAuthAuthorization:
        """`POST /invitations/accept` with the invitation as the credential: a new token."""
        headers = {"Authorization": f"Bearer {invitation}"}
        body = {"password": password}
        data = self._request("POST", "/invitations/accept", json=body, headers=headers)
        return cast(OAuthAuthorization, data)

    def remove_user(self, email: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._request("DELETE", f"/users/{quote(email, safe='')}"))

    def list_collaborators(self, app: str) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._request("GET", f"/apps/{_seg(app)}/collaborators"))

    def add_collaborator(self, app: str, email: str) -> dict[str, Any]:
        path = f"/apps/{_seg(app)}/collaborators"
        return cast(dict[str, Any], self._request("POST", path, json={"user": email}))

    def remove_collaborator(self, app: str, email: str) -> dict[str, Any]:
        path = f"/apps/{_seg(app)}/collaborators/{_seg(email)}"
        return cast(dict[str, Any], self._request("DELETE", path))

    def transfer_app(self, app: str, recipient: str) -> dict[str, Any]:
        body = {"app": app, "recipient": recipient}
        return cast(dict[str, Any], self._request("POST", "/account/app-transfers", json=body))

    # -- apps -------------------------------------------------------------------------------

    def list_apps(self) -> list[App]:
        return cast(list[App], self._request("GET", "/apps"))

    def create_app(
        self, name: str | None = None, *, region: str | None = None, stack: str | None = None
    ) -> App:
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if region is not None:
            body["region"] = region
        if stack is not None:
            body["stack"] = stack
        return cast(App, self._request("POST", "/apps", json=body))

    def get_app(self, app: str) -> App:
        return cast(App, self._request("GET", f"/apps/{_seg(app)}"))

    def update_app(
        self, app: str, *, maintenance: bool | None = None, name: str | None = None
    ) -> App:
        body: dict[str, Any] = {}
        if maintenance is not None:
            body["maintenance"] = maintenance
        if name is not None:
            body["name"] = name
        return cast(App, self._request("PATCH", f"/apps/{_seg(app)}", json=body))

    def delete_app(self, app: str) -> App:
        return cast(App, self._request("DELETE", f"/apps/{_seg(app)}"))

    # -- config vars ------------------------------------------------------------------------

    def get_config_vars(self, app: str) -> dict[str, str]:
        return cast(dict[str, str], self._request("GET", f"/apps/{_seg(app)}/config-vars"))

    def update_config_vars(self, app: str, changes: Mapping[str, str | None]) -> dict[str, str]:
        """PATCH config vars; a `None` value unsets the key. Returns the full resulting map."""
        data = self._request("PATCH", f"/apps/{_seg(app)}/config-vars", json=dict(changes))
        return cast(dict[str, str], data)

    # -- releases ---------------------------------------------------------------------------

    def list_releases(
        self, app: str, *, limit: int | None = None, descending: bool = False
    ) -> list[Release]:
        """List releases, oldest first, or newest first with `descending` (via `Range`)."""
        headers: dict[str, str] = {}
        options = []
        if limit is not None:
            options.append(f"max={limit}")
        if descending:
            options.append("order=desc")
        if options:
            headers["Range"] = "version ..; " + ", ".join(options)
        data = self._request("GET", f"/apps/{_seg(app)}/releases", headers=headers)
        return cast(list[Release], data)

    def get_release(self, app: str, release: str | int) -> Release:
        return cast(Release, self._request("GET", f"/apps/{_seg(app)}/releases/{_seg(release)}"))

    def rollback_release(self, app: str, release_id: str) -> Release:
        """`POST /apps/{app}/releases {"release": id}`: a new release copying an older one."""
        data = self._request("POST", f"/apps/{_seg(app)}/releases", json={"release": release_id})
        return cast(Release, data)

    # -- pipelines --------------------------------------------------------------------------

    def list_pipelines(self, name: str | None = None) -> list[Pipeline]:
        """All your pipelines, or those named `name` (`?eq[name]=`, as the Heroku CLI asks)."""
        path = "/pipelines" if name is None else f"/pipelines?eq[name]={quote(name, safe='')}"
        return cast(list[Pipeline], self._request("GET", path))

    def get_pipeline(self, pipeline: str) -> Pipeline:
        return cast(Pipeline, self._request("GET", f"/pipelines/{_seg(pipeline)}"))

    def create_pipeline(self, name: str) -> Pipeline:
        return cast(Pipeline, self._request("POST", "/pipelines", json={"name": name}))

    def rename_pipeline(self, pipeline_id: str, name: str) -> Pipeline:
        path = f"/pipelines/{_seg(pipeline_id)}"
        return cast(Pipeline, self._request("PATCH", path, json={"name": name}))

    def delete_pipeline(self, pipeline_id: str) -> Pipeline:
        return cast(Pipeline, self._request("DELETE", f"/pipelines/{_seg(pipeline_id)}"))

    def list_pipeline_couplings(self, pipeline_id: str) -> list[PipelineCoupling]:
        path = f"/pipelines/{_seg(pipeline_id)}/pipeline-couplings"
        return cast(list[PipelineCoupling], self._request("GET", path))

    def get_app_coupling(self, app: str) -> PipelineCoupling:
        """The app's coupling (`ApiError` 404 when it is in no pipeline)."""
        path = f"/apps/{_seg(app)}/pipeline-couplings"
        return cast(PipelineCoupling, self._request("GET", path))

    def create_coupling(self, pipeline_id: str, app: str, stage: str) -> PipelineCoupling:
        body = {"app": app, "pipeline": pipeline_id, "stage": stage}
        return cast(PipelineCoupling, self._request("POST", "/pipeline-couplings", json=body))

    def update_coupling(self, coupling_id: str, stage: str) -> PipelineCoupling:
        path = f"/pipeline-couplings/{_seg(coupling_id)}"
        return cast(PipelineCoupling, self._request("PATCH", path, json={"stage": stage}))

    def delete_coupling(self, coupling_id: str) -> PipelineCoupling:
        path = f"/pipeline-couplings/{_seg(coupling_id)}"
        return cast(PipelineCoupling, self._request("DELETE", path))

    def filter_apps(self, app_ids: Sequence[str]) -> list[App]:
        body = {"in": {"id": list(app_ids)}}
        return cast(list[App], self._request("POST", "/filters/apps", json=body))

    def create_promotion(
        self, pipeline_id: str, source_app_id: str, target_app_ids: Sequence[str]
    ) -> PipelinePromotion:
        body = {
            "pipeline": {"id": pipeline_id},
            "source": {"app": {"id": source_app_id}},
            "targets": [{"app": {"id": app_id}} for app_id in target_app_ids],
        }
        return cast(PipelinePromotion, self._request("POST", "/pipeline-promotions", json=body))

    def list_promotion_targets(self, promotion_id: str) -> list[PromotionTarget]:
        path = f"/pipeline-promotions/{_seg(promotion_id)}/promotion-targets"
        return cast(list[PromotionTarget], self._request("GET", path))

    def get_slug(self, app: str, slug_id: str) -> Slug:
        return cast(Slug, self._request("GET", f"/apps/{_seg(app)}/slugs/{_seg(slug_id)}"))

    # -- formation & dynos ------------------------------------------------------------------

    def list_formation(self, app: str) -> list[Formation]:
        return cast(list[Formation], self._request("GET", f"/apps/{_seg(app)}/formation"))

    def batch_update_formation(
        self, app: str, updates: Sequence[FormationUpdate]
    ) -> list[Formation]:
        body = {"updates": [dict(u) for u in updates]}
        data = self._request("PATCH", f"/apps/{_seg(app)}/formation", json=body)
        return cast(list[Formation], data)

    def update_formation(
        self,
        app: str,
        process_type: str,
        *,
        quantity: int | str | None = None,
        size: str | None = None,
    ) -> Formation:
        body: dict[str, Any] = {}
        if quantity is not None:
            body["quantity"] = quantity
        if size is not None:
            body["size"] = size
        path = f"/apps/{_seg(app)}/formation/{_seg(process_type)}"
        return cast(Formation, self._request("PATCH", path, json=body))

    def list_dynos(self, app: str) -> list[Dyno]:
        return cast(list[Dyno], self._request("GET", f"/apps/{_seg(app)}/dynos"))

    def create_dyno(
        self,
        app: str,
        command: str,
        *,
        attach: bool = False,
        env: Mapping[str, str | int] | None = None,
        force_no_tty: bool | None = None,
        size: str | None = None,
        type: str | None = None,
        time_to_live: int | None = None,
    ) -> Dyno:
        """Start a one-off dyno (`heroku run`); with `attach`, its `attach_url` is the
        rendezvous to connect to (cove.client.rendezvous)."""
        body: dict[str, Any] = {"command": command, "attach": attach}
        if env is not None:
            body["env"] = dict(env)
        if force_no_tty is not None:
            body["force_no_tty"] = force_no_tty
        if size is not None:
            body["size"] = size
        if type is not None:
            body["type"] = type
        if time_to_live is not None:
            body["time_to_live"] = time_to_live
        return cast(Dyno, self._request("POST", f"/apps/{_seg(app)}/dynos", json=body))

    def resize_dyno(self, app: str, dyno: str, size: WindowSize) -> None:
        """Set an attached one-off dyno's terminal size (a Cove extension)."""
        path = f"/apps/{_seg(app)}/dynos/{_seg(dyno)}/actions/resize"
        self._request("POST", path, json=dict(size))

    def restart_all_dynos(self, app: str) -> None:
        self._request("DELETE", f"/apps/{_seg(app)}/dynos")

    def restart_dyno(self, app: str, dyno: str) -> None:
        self._request("DELETE", f"/apps/{_seg(app)}/dynos/{_seg(dyno)}")

    def restart_process_type(self, app: str, process_type: str) -> None:
        self._request("DELETE", f"/apps/{_seg(app)}/formations/{_seg(process_type)}")

    def stop_dynos(self, app: str, target: str) -> None:
        """Stop one dyno (``web.1``) or a process type's dynos (``web``)."""
        kind = "dynos" if "." in target else "formations"
        self._request("POST", f"/apps/{_seg(app)}/{kind}/{_seg(target)}/actions/stop")

    # -- logs -------------------------------------------------------------------------------

    def create_log_session(
        self,
        app: str,
        *,
        lines: int | None = None,
        tail: bool | None = None,
        dyno: str | None = None,
        source: str | None = None,
    ) -> LogSession:
        body: dict[str, Any] = {}
        if lines is not None:
            body["lines"] = lines
        if tail is not None:
            body["tail"] = tail
        if dyno is not None:
            body["dyno"] = dyno
        if source is not None:
            body["source"] = source
        data = self._request("POST", f"/apps/{_seg(app)}/log-sessions", json=body)
        return cast(LogSession, data)

    def stream_log(self, logplex_url: str) -> Iterator[str]:
        """Yield the lines of a log session's `logplex_url` (stays open while tailing)."""
        return self._stream_lines(logplex_url)

    # -- log drains -------------------------------------------------------------------------

    def list_log_drains(self, app: str) -> list[LogDrain]:
        return cast(list[LogDrain], self._request("GET", f"/apps/{_seg(app)}/log-drains"))

    def create_log_drain(self, app: str, url: str) -> LogDrain:
        data = self._request("POST", f"/apps/{_seg(app)}/log-drains", json={"url": url})
        return cast(LogDrain, data)

    def delete_log_drain(self, app: str, drain: str) -> LogDrain:
        """Remove a drain named by its URL, token or id (a URL goes whole, %-encoded)."""
        data = self._request("DELETE", f"/apps/{_seg(app)}/log-drains/{_seg(drain)}")
        return cast(LogDrain, data)

    # -- domains ----------------------------------------------------------------------------

    def list_domains(self, app: str) -> list[Domain]:
        return cast(list[Domain], self._request("GET", f"/apps/{_seg(app)}/domains"))

    def create_domain(self, app: str, hostname: str) -> Domain:
        body = {"hostname": hostname, "sni_endpoint": None}
        return cast(Domain, self._request("POST", f"/apps/{_seg(app)}/domains", json=body))

    def get_domain(self, app: str, hostname: str) -> Domain:
        data = self._request("GET", f"/apps/{_seg(app)}/domains/{_seg(hostname)}")
        return cast(Domain, data)

    def delete_domain(self, app: str, hostname: str) -> Domain:
        data = self._request("DELETE", f"/apps/{_seg(app)}/domains/{_seg(hostname)}")
        return cast(Domain, data)

    # -- SNI endpoints (certs) --------------------------------------------------------------

    def list_sni_endpoints(self, app: str) -> list[SniEndpoint]:
        return cast(list[SniEndpoint], self._request("GET", f"/apps/{_seg(app)}/sni-endpoints"))

    def create_sni_endpoint(
        self, app: str, certificate_chain: str, private_key: str
    ) -> SniEndpoint:
        body = {"certificate_chain": certificate_chain, "private_key": private_key}
        data = self._request("POST", f"/apps/{_seg(app)}/sni-endpoints", json=body)
        return cast(SniEndpoint, data)

    def delete_sni_endpoint(self, app: str, endpoint: str) -> SniEndpoint:
        data = self._request("DELETE", f"/apps/{_seg(app)}/sni-endpoints/{_seg(endpoint)}")
        return cast(SniEndpoint, data)

    # -- Automated Certificate Management (certs:auto) ---------------------------------------

    def enable_acm(self, app: str) -> App:
        return cast(App, self._request("POST", f"/apps/{_seg(app)}/acm"))

    def disable_acm(self, app: str) -> App:
        return cast(App, self._request("DELETE", f"/apps/{_seg(app)}/acm"))

    def refresh_acm(self, app: str) -> App:
        return cast(App, self._request("PATCH", f"/apps/{_seg(app)}/acm"))

    # -- buildpacks -------------------------------------------------------------------------

    def list_buildpack_installations(self, app: str) -> list[BuildpackInstallation]:
        data = self._request("GET", f"/apps/{_seg(app)}/buildpack-installations")
        return cast(list[BuildpackInstallation], data)

    def update_buildpack_installations(
        self, app: str, buildpacks: Sequence[str]
    ) -> list[BuildpackInstallation]:
        """Replace the app's buildpacks with `buildpacks` (URLs, names or paths), in order."""
        body = {"updates": [{"buildpack": b} for b in buildpacks]}
        data = self._request("PUT", f"/apps/{_seg(app)}/buildpack-installations", json=body)
        return cast(list[BuildpackInstallation], data)

    # -- sources & builds -------------------------------------------------------------------

    def create_source(self) -> Source:
        return cast(Source, self._request("POST", "/sources"))

    def upload_source(self, put_url: str, data: bytes | Iterable[bytes]) -> None:
        """PUT a `.tar.gz` to a source's pre-signed `put_url`.

        The URL is a capability, so the API token is only sent when it points at the API itself.
        """
        request = self._http.build_request(
            "PUT", put_url, content=data, headers={"Content-Type": "application/octet-stream"}
        )
        if not self._is_same_origin(put_url):
            request.headers.pop("Authorization", None)
        self._send(request)

    def create_build(
        self,
        app: str,
        source_url: str,
        *,
        version: str | None = None,
        buildpacks: Sequence[str] | None = None,
    ) -> Build:
        blob: dict[str, Any] = {"url": source_url}
        if version is not None:
            blob["version"] = version
        body: dict[str, Any] = {"source_blob": blob}
        if buildpacks is not None:
            body["buildpacks"] = [{"url": b} for b in buildpacks]
        return cast(Build, self._request("POST", f"/apps/{_seg(app)}/builds", json=body))

    def get_build(self, app: str, build_id: str) -> Build:
        return cast(Build, self._request("GET", f"/apps/{_seg(app)}/builds/{_seg(build_id)}"))

    def stream_build_output(self, output_stream_url: str) -> Iterator[str]:
        """Yield a build's output lines from its `output_stream_url` until the build ends."""
        return self._stream_lines(output_stream_url)

    # -- add-ons (docs/api.md "Add-ons") ----------------------------------------------------
    #
    # `addon` arguments are an add-on name or id, or a config var of `app` pointing at one
    # (`DATABASE_URL`, `DATABASE`, `REDIS_URL`); `backup` is `b001`-style or an id.

    def _addon_path(self, app: str, addon: str) -> str:
        return f"/apps/{_seg(app)}/addons/{_seg(addon)}"

    def create_addon(
        self,
        app: str,
        plan: str,
        *,
        name: str | None = None,
        attachment: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> AddOn:
        """Provision `plan` (`heroku-postgresql` or `heroku-postgresql:essential-0`) for `app`;
        `attachment` names the first attachment (`DB2` -> `DB2_URL`)."""
        body: dict[str, Any] = {"plan": plan}
        if name is not None:
            body["name"] = name
        if attachment is not None:
            body["attachment"] = {"name": attachment}
        if config is not None:
            body["config"] = dict(config)
        return cast(AddOn, self._request("POST", f"/apps/{_seg(app)}/addons", json=body))

    def list_addons(self, app: str | None = None) -> list[AddOn]:
        """The add-ons owned by or attached to `app`, or those of all your apps."""
        path = f"/apps/{_seg(app)}/addons" if app is not None else "/addons"
        return cast(list[AddOn], self._request("GET", path))

    def get_addon(self, app: str | None, addon: str) -> AddOn:
        path = self._addon_path(app, addon) if app is not None else f"/addons/{_seg(addon)}"
        return cast(AddOn, self._request("GET", path))

    def destroy_addon(self, app: str, addon: str) -> AddOn:
        return cast(AddOn, self._request("DELETE", self._addon_path(app, addon)))

    def list_attachments(self, app: str | None = None) -> list[Attachment]:
        path = f"/apps/{_seg(app)}/addon-attachments" if app is not None else "/addon-attachments"
        return cast(list[Attachment], self._request("GET", path))

    def attach_addon(self, addon: str, app: str, *, name: str | None = None) -> Attachment:
        body: dict[str, Any] = {"addon": addon, "app": app}
        if name is not None:
            body["name"] = name
        return cast(Attachment, self._request("POST", "/addon-attachments", json=body))

    def detach_addon(self, app: str, attachment: str) -> Attachment:
        path = f"/apps/{_seg(app)}/addon-attachments/{_seg(attachment)}"
        return cast(Attachment, self._request("DELETE", path))

    def addon_info(self, app: str, addon: str) -> AddonInfo:
        return cast(AddonInfo, self._request("GET", f"{self._addon_path(app, addon)}/info"))

    def addon_credentials(self, app: str, addon: str) -> Credentials:
        path = f"{self._addon_path(app, addon)}/credentials"
        return cast(Credentials, self._request("GET", path))

    def reset_addon(self, app: str, addon: str) -> None:
        """Delete all of a Postgres add-on's data."""
        self._request("POST", f"{self._addon_path(app, addon)}/actions/reset")

    def capture_backup(self, app: str, addon: str) -> Backup:
        """Capture a backup now (the server answers once it is complete)."""
        return cast(Backup, self._request("POST", f"{self._addon_path(app, addon)}/backups"))

    def list_backups(self, app: str, addon: str) -> list[Backup]:
        return cast(list[Backup], self._request("GET", f"{self._addon_path(app, addon)}/backups"))

    def download_backup(self, app: str, addon: str, backup: str) -> Iterator[bytes]:
        """Stream a backup's `pg_dump -Fc` file. The request is sent (and API errors raised)
        by this call; iterate the result to the end to release the connection."""
        path = f"{self._addon_path(app, addon)}/backups/{_seg(backup)}/download"
        request = self._http.build_request("GET", path, timeout=STREAM_TIMEOUT)
        response = self._send(request, stream=True)
        return self._iter_bytes(response, str(request.url))

    @staticmethod
    def _iter_bytes(response: httpx.Response, url: str) -> Iterator[bytes]:
        try:
            try:
                yield from response.iter_bytes()
            except httpx.TransportError as exc:
                raise ApiConnectionError(url, str(exc) or type(exc).__name__) from exc
        finally:
            response.close()

    def restore_backup(self, app: str, addon: str, backup: str) -> None:
        """Replace the database's data with the backup's."""
        path = f"{self._addon_path(app, addon)}/backups/{_seg(backup)}/actions/restore"
        self._request("POST", path)

    def copy_addon(self, app: str, addon: str, from_app: str, from_addon: str) -> None:
        """Replace `addon`'s data with a copy of `from_addon`'s (of `from_app`)."""
        body = {"from": {"app": from_app, "addon": from_addon}}
        self._request("POST", f"{self._addon_path(app, addon)}/actions/copy", json=body)
