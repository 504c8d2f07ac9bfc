"""`cove heroku-env`: the environment that points Heroku's own clients at this Cove.

The npm ``heroku`` CLI (v11) and the Python ``heroku3`` library have no notion of another
platform; a few variables aim them at Cove's API instead. Two of them guard the user's
token: the CLI sends it to ``particleboard.heroku.com`` beside every ``GET /account``
unless ``HEROKU_PARTICLEBOARD_URL`` is set, and it falls back to ``api.heroku.com`` for
a ``HEROKU_HOST`` not named ``localhost`` or ``127.0.0.1``; so this command refuses such
an API URL rather than print an environment that would leak the token.
"""

from __future__ import annotations

import shlex
from urllib.parse import urlsplit

import click

from cove.cli import trust
from cove.cli.context import CliState, pass_state, resolve_token
from cove.cli.output import CliError, echo

# The only hostnames the CLI both accepts as HEROKU_HOST and sends the token to.
_CLI_HOSTS = {"localhost", "127.0.0.1"}


def _export(name: str, value: str) -> str:
    return f"export {name}={shlex.quote(value)}"


def environment(api_url: str, ca: str | None, token: str | None) -> list[str]:
    """The shell lines (``export``s and comments) for the API at ``api_url``."""
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    if host not in _CLI_HOSTS:
        raise CliError(
            f"The heroku CLI only talks to an API named localhost or 127.0.0.1; for "
            f"{host or api_url} it would send requests (and your token) to api.heroku.com.\n"
            f"Reach this Cove through a tunnel to 127.0.0.1 (ssh -L PORT:127.0.0.1:PORT "
            f"HOST) and set COVE_API_URL=https://127.0.0.1:PORT."
        )
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    lines = [
        f"# Heroku's CLI (npm heroku@11) and heroku3 against the Cove at {origin}.",
        '# Use: eval "$(cove heroku-env)"',
        "#",
        "# WARNING: keep HEROKU_PARTICLEBOARD_URL. Without it the heroku CLI sends your",
        "# API token to particleboard.heroku.com, a public host, with every GET /account.",
        "# WARNING: whatever these say, pipelines:diff, pipelines:connect, pipelines:setup,",
        "# reviewapps:* and ci:* send your token to kolkrabbi.heroku.com: don't run them",
        "# (`cove pipelines:diff` compares releases here).",
        _export("HEROKU_HOST", origin),
        _export("HEROKU_PARTICLEBOARD_URL", origin),
        "# ps:exec, ps:copy, ps:forward, ps:socks: here, not to exec-manager.heroku.com.",
        _export("HEROKU_EXEC_URL", origin + "/"),
        "# buildpacks:add|set heroku/python: names looked up here, not in Heroku's registry.",
        _export("HEROKU_BUILDPACK_REGISTRY_URL", origin),
        _export("DISABLE_TELEMETRY", "true"),
        _export("HEROKU_SKIP_NEW_VERSION_CHECK", "true"),
        "# pg:* call the data API, which this same server answers: the CLI keeps the",
        "# API's scheme and port for it, so only the host name goes here.",
        _export("HEROKU_DATA_HOST", host),
        "# pg:diagnose: here too, not to pgdiagnose.herokai.com (which would get your token",
        "# and the database's URL).",
        _export("PGDIAGNOSE_URL", host),
    ]
    if ca is not None:
        lines += [
            "# Node (the CLI, its log stream, `heroku run`) trusts Cove's CA:",
            _export("NODE_EXTRA_CA_CERTS", ca),
            "# git trusts it for this origin only (`git push heroku main`); to keep it, run",
            f"#   git config --global http.{origin}/.sslCAInfo {shlex.quote(ca)}",
            "# (these replace any GIT_CONFIG_COUNT list of your own)",
            _export("GIT_CONFIG_COUNT", "1"),
            _export("GIT_CONFIG_KEY_0", f"http.{origin}/.sslCAInfo"),
            _export("GIT_CONFIG_VALUE_0", ca),
        ]
    if token is not None:
        lines.append(_export("HEROKU_API_KEY", token))
    else:
        lines.append("# Token: `heroku login -i` (your Cove email and password, or an API token),")
        lines.append("# or eval `cove heroku-env --with-token` to export HEROKU_API_KEY.")
    lines.append("#")
    lines.append("# heroku3 (Python):")
    lines.append(f'#   import heroku3, requests; heroku3.api.HEROKU_URL = "{origin}"')
    if ca is not None:
        # from_key turns off requests' environment (REQUESTS_CA_BUNDLE): a session it is.
        lines.append(f'#   session = requests.Session(); session.verify = "{ca}"')
        lines.append("#   conn = heroku3.from_key(TOKEN, session=session)")
    else:
        lines.append("#   conn = heroku3.from_key(TOKEN)")
    return lines


@click.command("heroku-env")
@click.option(
    "--with-token",
    is_flag=True,
    help="also export HEROKU_API_KEY, the logged-in token (it is then in your shell's env)",
)
@pass_state
def heroku_env(state: CliState, with_token: bool) -> None:
    """Print the environment that points the heroku CLI and heroku3 at this Cove."""
    url = state.api_url
    token = None
    if with_token:
        token = resolve_token(url)
        if not token:
            raise CliError("Not logged in. Run `cove login` first.")
    ca = trust.ca_for(url)
    for line in environment(url, str(ca) if ca is not None else None, token):
        echo(line)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [(heroku_env, ())]
