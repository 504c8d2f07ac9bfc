"""Tables. Releases and slugs are append-only; every state change also writes an
``Event`` row in the same transaction (see ``cove.store.db``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cove.store.secrets import EncryptedJSON, EncryptedText


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


class Account(Timestamps, Base):
    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    # An argon2id hash (PHC string); None until a password is set (token-only accounts).
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    # Admins manage users and may act on every app.
    admin: Mapped[bool] = mapped_column(default=False)


class Token(Timestamps, Base):
    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # Only a SHA-256 of the token is kept, so a leaked store does not leak credentials.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")


class App(Timestamps, Base):
    __tablename__ = "apps"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    maintenance: Mapped[bool] = mapped_column(default=False)
    # Config vars, encrypted at rest (cove.store.secrets).
    config: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    buildpacks: Mapped[list[Any]] = mapped_column(default=list)
    # Restart requests per process type / dyno name ("*" = all); part of dyno revisions.
    restarts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    # The unprivileged Unix user the app's builds and dynos run as (when Cove runs as root).
    uid: Mapped[int | None] = mapped_column(Integer, unique=True, default=None)
    # Automated Certificate Management (certs:auto): Cove gets its domains' certificates.
    acm: Mapped[bool] = mapped_column(default=False)


class Invitation(Timestamps, Base):
    """A pending invitation for an account to set its first password: the SHA-256 of its
    one-time token, and when it lapses (one per account)."""

    __tablename__ = "invitations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), unique=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()


class Collaborator(Timestamps, Base):
    """An account, other than the owner, that may act on an app."""

    __tablename__ = "collaborators"
    __table_args__ = (UniqueConstraint("app_id", "account_id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))


class Slug(Timestamps, Base):
    __tablename__ = "slugs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    checksum: Mapped[str] = mapped_column(String(80))  # "SHA256:<hex>", also the file name
    size: Mapped[int] = mapped_column(Integer)
    process_types: Mapped[dict[str, Any]] = mapped_column(default=dict)
    commit: Mapped[str | None] = mapped_column(String(64), default=None)
    stack: Mapped[str] = mapped_column(String(64))
    buildpack_description: Mapped[str] = mapped_column(String(255), default="")


class Build(Timestamps, Base):
    __tablename__ = "builds"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    source_url: Mapped[str] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(String(255), default=None)
    user_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    slug_id: Mapped[str | None] = mapped_column(String(36), default=None)
    release_id: Mapped[str | None] = mapped_column(String(36), default=None)
    failure_message: Mapped[str | None] = mapped_column(Text, default=None)


class Release(Timestamps, Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("app_id", "version"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="succeeded")
    slug_id: Mapped[str | None] = mapped_column(ForeignKey("slugs.id"), default=None)
    config: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    user_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))


class Formation(Timestamps, Base):
    __tablename__ = "formations"
    __table_args__ = (UniqueConstraint("app_id", "type"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[str] = mapped_column(String(32), default="standard-1x")


class Dyno(Timestamps, Base):
    """A running (or crashed) dyno, as reported by the dyno manager."""

    __tablename__ = "dynos"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(160))
    type: Mapped[str] = mapped_column(String(128))
    command: Mapped[str] = mapped_column(Text)
    size: Mapped[str] = mapped_column(String(32), default="standard-1x")
    state: Mapped[str] = mapped_column(String(16), default="starting")
    release_version: Mapped[int] = mapped_column(Integer)
    revision: Mapped[str] = mapped_column(String(64))
    host: Mapped[str | None] = mapped_column(String(255), default=None)
    port: Mapped[int | None] = mapped_column(Integer, default=None)


class Source(Timestamps, Base):
    """An uploaded source tarball (``POST /sources``), stored as a file."""

    __tablename__ = "sources"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    uploaded: Mapped[bool] = mapped_column(default=False)


class Event(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    app_id: Mapped[str | None] = mapped_column(String(36), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=now)


class AddOn(Timestamps, Base):
    """A provisioned add-on (a database, a Redis server) owned by one app."""

    __tablename__ = "addons"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # postgresql-curly-12345
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"))
    service: Mapped[str] = mapped_column(String(64))  # heroku-postgresql | heroku-redis
    plan: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="provisioned")
    # What the provider needs to find its resource again (db/role names, port, password);
    # both hold credentials, encrypted at rest.
    resource: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    url: Mapped[str] = mapped_column(EncryptedText)


class Attachment(Timestamps, Base):
    """An add-on attached to an app as NAME: the app gets the NAME_URL config var."""

    __tablename__ = "addon_attachments"
    __table_args__ = (UniqueConstraint("app_id", "name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    addon_id: Mapped[str] = mapped_column(ForeignKey("addons.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))  # DATABASE, HEROKU_POSTGRESQL_RED, REDIS


class Backup(Timestamps, Base):
    __tablename__ = "addon_backups"
    __table_args__ = (UniqueConstraint("addon_id", "num"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    addon_id: Mapped[str] = mapped_column(ForeignKey("addons.id", ondelete="CASCADE"))
    num: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="succeeded")


class LogDrain(Timestamps, Base):
    """A log drain: every line of the app's log is also sent to ``url``. ``token``
    (``d.<uuid>``) names the drain to its receiver (the syslog hostname field, the
    ``Logplex-Drain-Token`` header)."""

    __tablename__ = "log_drains"
    __table_args__ = (UniqueConstraint("app_id", "url_digest"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    # May hold credentials (user:password@, a token in the query): encrypted at rest, so
    # uniqueness and lookups by URL go through its keyed digest (cove.store.digests).
    url: Mapped[str] = mapped_column(EncryptedText)
    url_digest: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(40), unique=True, default=lambda: f"d.{new_id()}")


class Pipeline(Timestamps, Base):
    """A group of apps sharing one codebase, each at a stage (``PipelineCoupling``)."""

    __tablename__ = "pipelines"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))


class PipelineCoupling(Timestamps, Base):
    """An app's place in a pipeline: an app is in at most one pipeline (``app_id`` unique)."""

    __tablename__ = "pipeline_couplings"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), unique=True)
    stage: Mapped[str] = mapped_column(String(16))


class PipelinePromotion(Timestamps, Base):
    """One promotion of the source app's release (its slug) to target apps."""

    __tablename__ = "pipeline_promotions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    source_app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    # Not foreign keys: releases are deleted with their app, the promotion's record stays.
    source_release_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))


class PromotionTarget(Timestamps, Base):
    """One target app of a promotion: ``pending`` until its release succeeded or failed."""

    __tablename__ = "promotion_targets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    promotion_id: Mapped[str] = mapped_column(
        ForeignKey("pipeline_promotions.id", ondelete="CASCADE")
    )
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    release_id: Mapped[str | None] = mapped_column(String(36), default=None)


class Domain(Timestamps, Base):
    """A custom hostname an app is served at (the default ``<app>.<COVE_DOMAIN>`` is not a
    row: the API lists it as kind ``heroku``). ``hostname`` is unique across apps."""

    __tablename__ = "domains"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    hostname: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="custom")
    cname: Mapped[str | None] = mapped_column(String(255), default=None)
    status: Mapped[str] = mapped_column(String(16), default="succeeded")
    acm_status: Mapped[str | None] = mapped_column(String(32), default=None)
    acm_status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    sni_endpoint: Mapped[str | None] = mapped_column(String(64), default=None)


class SniEndpoint(Timestamps, Base):
    """An uploaded certificate (`certs:add`): the router's HTTPS listener presents it to
    clients asking (by SNI) for a custom domain of the app that it covers."""

    __tablename__ = "sni_endpoints"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64), unique=True)
    certificate_chain: Mapped[str] = mapped_column(Text)
    private_key: Mapped[str] = mapped_column(EncryptedText)  # encrypted at rest
    # From the certificate, kept to list and match without parsing it again.
    cert_domains: Mapped[list[Any]] = mapped_column(default=list)
    # Issued by Cove's ACME client for one domain (certs:auto), not uploaded.
    acm: Mapped[bool] = mapped_column(default=False)


class SecretsKeyCheck(Base):
    """One row: a known text encrypted with the secrets key, so a wrong or missing key
    file is refused at start instead of failing on the first secret read."""

    __tablename__ = "secrets_key_check"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(Text)


class DashboardSession(Timestamps, Base):
    """A web dashboard log-in (cove.dashboard.sessions): the SHA-256 of its cookie, the
    form token that every POST must carry (CSRF), when it lapses, and a digest of the
    password it was opened with, so changing the password or removing the user ends it."""

    __tablename__ = "dashboard_sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    password_digest: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column()
    # A one-time notice for the next page (Post/Redirect/Get), e.g. "Scaled web to 2".
    flash: Mapped[str | None] = mapped_column(Text, default=None)


class Dataclip(Timestamps, Base):
    """A saved SQL query of a Postgres add-on (the dashboard's "dataclips"): whoever may
    see ``app_id`` may open and run it; it goes with the app or the add-on."""

    __tablename__ = "dataclips"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    addon_id: Mapped[str] = mapped_column(ForeignKey("addons.id", ondelete="CASCADE"), index=True)
    creator_id: Mapped[str | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), default=None
    )
    title: Mapped[str] = mapped_column(String(120))
    sql: Mapped[str] = mapped_column(Text)


class AppMetric(Base):
    """One app's router and dyno metrics for one minute (cove.metrics), for the dashboard's
    Metrics tab; a day's worth is kept. A minute may have several rows (the last window
    before a restart and the first after it): readers add them up."""

    __tablename__ = "app_metrics"
    __table_args__ = (Index("ix_app_metrics_app_minute", "app_id", "minute"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    minute: Mapped[int] = mapped_column(Integer, index=True)  # Unix time // 60
    statuses: Mapped[list[Any]] = mapped_column(default=list)  # [other, 1xx, ..., 5xx]
    latency: Mapped[dict[str, Any]] = mapped_column(default=dict)  # bucket -> requests
    errors: Mapped[dict[str, Any]] = mapped_column(default=dict)  # H/R code -> count
    memory: Mapped[dict[str, Any]] = mapped_column(default=dict)  # dyno -> [n, sum, max]


class Lease(Base):
    """A named lease (cove.store.leases): ``holder`` may act until ``expires_at``, seconds
    since the epoch on the database's clock (never a host's, so skewed hosts agree)."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[float] = mapped_column(Float)
