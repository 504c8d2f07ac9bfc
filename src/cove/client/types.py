"""JSON shapes returned by Cove's Heroku Platform API v3 (see docs/api.md).

These are typing aids only: the client returns the decoded JSON unchanged, so extra fields the
server sends are kept and missing optional ones are simply absent.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class IdRef(TypedDict):
    id: str


class IdName(TypedDict):
    id: str
    name: str


class IdEmail(TypedDict):
    id: str
    email: str


class Account(TypedDict):
    id: str
    email: str
    name: str | None
    created_at: str
    updated_at: str


class App(TypedDict):
    id: str
    name: str
    owner: IdEmail
    region: IdName
    stack: IdName
    build_stack: IdName
    generation: dict[str, Any]
    git_url: str
    web_url: str
    maintenance: bool
    acm: bool
    repo_size: int | None
    slug_size: int | None
    buildpack_provided_description: str | None
    create_status: str
    locked: bool
    internal_routing: bool | None
    space: dict[str, Any] | None
    team: dict[str, Any] | None
    organization: dict[str, Any] | None
    archived_at: str | None
    released_at: str | None
    created_at: str
    updated_at: str


class Release(TypedDict):
    id: str
    version: int
    description: str
    status: str
    current: bool
    eligible_for_rollback: bool
    output_stream_url: str | None
    slug: IdRef | None
    user: IdEmail
    app: IdName
    addon_plan_names: list[str]
    created_at: str
    updated_at: str


class Formation(TypedDict):
    id: str
    type: str
    quantity: int
    size: str
    command: str
    app: IdName
    created_at: str
    updated_at: str


class FormationUpdate(TypedDict):
    """One entry of `PATCH /apps/{app}/formation`; quantity may be relative ("+1", "-1")."""

    type: str
    quantity: NotRequired[int | str]
    size: NotRequired[str]


class DynoRelease(TypedDict):
    id: str
    version: int


class Dyno(TypedDict):
    id: str
    name: str
    type: str
    command: str
    size: str
    state: str
    attach_url: str | None
    memory_usage: NotRequired[int | None]
    memory_quota: NotRequired[int]
    release: DynoRelease
    app: IdName
    created_at: str
    updated_at: str


class WindowSize(TypedDict):
    """A terminal's size, as `POST /apps/{app}/dynos/{dyno}/actions/resize` takes it."""

    columns: int
    lines: int


class LogSession(TypedDict):
    id: str
    logplex_url: str


class Domain(TypedDict):
    id: str
    hostname: str
    kind: str  # heroku (the app's default hostname) | custom
    cname: str | None  # the DNS target: <app>.<COVE_DOMAIN>
    status: str
    acm_status: str | None
    acm_status_reason: str | None
    sni_endpoint: IdName | None
    app: IdName
    created_at: str
    updated_at: str


class SslCert(TypedDict):
    cert_domains: list[str]
    starts_at: str
    expires_at: str
    subject: str
    issuer: str


class SniEndpoint(TypedDict):
    id: str
    name: str
    certificate_chain: str
    domains: list[str]  # ids of the custom domains it serves
    app: IdName
    ssl_cert: SslCert
    created_at: str
    updated_at: str


class LogDrain(TypedDict):
    id: str
    url: str  # as added: it may hold credentials
    token: str  # d.<uuid>: how the drain is named to its receiver
    addon: IdName | None
    app: IdName
    created_at: str
    updated_at: str


class Buildpack(TypedDict):
    url: str
    name: str


class BuildpackInstallation(TypedDict):
    ordinal: int
    buildpack: Buildpack


class SourceBlobUrls(TypedDict):
    get_url: str
    put_url: str


class Source(TypedDict):
    source_blob: SourceBlobUrls


class SourceBlob(TypedDict):
    url: str
    version: str | None


class Build(TypedDict):
    id: str
    app: IdRef
    status: str
    source_blob: SourceBlob
    buildpacks: list[dict[str, Any]] | None
    output_stream_url: str
    release: IdRef | None
    slug: IdRef | None
    stack: str
    user: IdEmail
    created_at: str
    updated_at: str
    failure_message: str | None


class AccessToken(TypedDict):
    token: str


class UserEmail(TypedDict):
    email: str


class OAuthAuthorization(TypedDict):
    id: str
    access_token: AccessToken
    user: UserEmail


# -- add-ons (docs/api.md "Add-ons") ------------------------------------------------------------


class AddOnPrice(TypedDict):
    cents: int
    unit: str


class AddOnPlan(TypedDict):
    id: str
    name: str  # "heroku-postgresql:essential-0"
    price: NotRequired[AddOnPrice]


class AddOn(TypedDict):
    id: str
    name: str  # "postgresql-curly-12345"
    app: IdName  # the owning app
    addon_service: IdName  # "heroku-postgresql" / "heroku-redis"
    plan: AddOnPlan
    state: str  # "provisioning" | "provisioned" | "deprovisioned"
    config_vars: list[str]
    provision_message: NotRequired[str | None]
    billed_price: NotRequired[dict[str, Any] | None]
    web_url: NotRequired[str | None]
    created_at: str
    updated_at: str


class AttachmentAddOn(TypedDict):
    id: str
    name: str
    app: IdName


class Attachment(TypedDict):
    id: str
    name: str  # "DATABASE" (the config var is NAME_URL)
    addon: AttachmentAddOn
    app: IdName
    namespace: NotRequired[str | None]
    web_url: NotRequired[str | None]
    created_at: str
    updated_at: str


class Backup(TypedDict):
    id: str
    num: int
    name: str  # "b001"
    addon: IdName
    size: int | None
    status: str  # "succeeded" | "failed" | ...
    created_at: str


class AddonInfo(TypedDict):
    """Cove's `GET /apps/{app}/addons/{addon}/info` (Heroku's Data API, condensed)."""

    addon: IdName | str  # the server sends {id, name}
    service: str
    plan: str  # "heroku-postgresql:essential-0"
    status: str
    version: str | None
    data_size: int | None
    tables: NotRequired[int | None]
    connections: NotRequired[int | str | None]
    info: NotRequired[str | None]  # Redis: the INFO text
    url_var: str | None  # "DATABASE_URL" (this app's first attachment's var)
    attachments: NotRequired[list[str]]  # all of this app's vars for it


class Credentials(TypedDict):
    url: str
    host: str
    port: int
    database: NotRequired[str | None]
    user: NotRequired[str | None]
    password: str
