"""`cove certs:ca`: Cove's certificate authority, and how to make other tools trust it.
`cove certs`, `certs:add CRT KEY`, `certs:info`, `certs:remove`: an app's own certificates
(SNI endpoints) for its custom domains, presented by the router's HTTPS listener."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from cove.cli import trust
from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import CliError, action, app_label, echo, header, require_confirmation, table
from cove.client.types import SniEndpoint


@click.command("certs:ca")
@click.option("--pem", is_flag=True, help="print only the CA certificate (PEM)")
@pass_state
def certs_ca(state: CliState, pem: bool) -> None:
    """Show Cove's CA certificate and the commands that make curl, git, Python and Node
    trust it."""
    url = state.api_url
    if not url.startswith("https://"):
        raise CliError(f"The API at {url} doesn't use TLS: there is no CA to trust.")
    path = trust.ca_for(url)
    if path is None:
        raise CliError(
            f"No Cove CA is known for {url}. Run `cove login` (it finds or fetches the "
            "server's CA and stores it), or run this on the server's machine."
        )
    text = path.read_text()
    if pem:
        click.echo(text, nl=False)
        return
    ca = shlex.quote(str(path))
    both = shlex.quote(str(trust.bundle(url, path)))
    echo(f"Cove's certificate authority for {url}")
    echo(f"  File:    {path}")
    echo(f"  SHA-256: {trust.fingerprint(text)}")
    echo()
    echo("Trust it (each line for one tool; the cove CLI trusts it already):")
    echo(f"  curl:    curl --cacert {ca} https://...")
    echo(f"  git:     git config http.{url}/.sslCAInfo {ca}   # in the app's repository")
    echo(f"  Python:  export SSL_CERT_FILE={both} REQUESTS_CA_BUNDLE={both}")
    echo(f"  Node:    export NODE_EXTRA_CA_CERTS={ca}")
    echo()
    echo(f"({both} holds the system's CAs and Cove's: those two settings replace the")
    echo("system's CAs rather than adding to them.)")


def _rows(endpoints: list[SniEndpoint]) -> list[list[str]]:
    rows = [["Name", "Common Name(s)", "Expires", "Domains"]]
    for e in endpoints:
        cert = e["ssl_cert"]
        rows.append(
            [e["name"], ", ".join(cert["cert_domains"]), cert["expires_at"], str(len(e["domains"]))]
        )
    return rows


def _pick(endpoints: list[SniEndpoint], name: str | None, app: str) -> SniEndpoint:
    if name is not None:
        for e in endpoints:
            if name in (e["name"], e["id"]):
                return e
        raise CliError(f"{app_label(app)} has no certificate named {name}.")
    if not endpoints:
        raise CliError(f"{app_label(app)} has no SSL certificates.")
    if len(endpoints) > 1:
        names = ", ".join(e["name"] for e in endpoints)
        raise CliError(f"{app_label(app)} has several certificates: give --name ({names}).")
    return endpoints[0]


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"Can't read the {what} file {path}: {exc}") from None


@click.command("certs")
@app_options
@pass_state
def certs_list(state: CliState, app: str) -> None:
    """List the app's SSL certificates (for its custom domains)."""
    endpoints = state.client().list_sni_endpoints(app)
    if not endpoints:
        echo(f"{app_label(app)} has no SSL certificates.")
        echo("Use cove certs:add CRT KEY to add one.")
        return
    for line in table(_rows(endpoints)):
        echo(line)


@click.command("certs:add")
@click.argument("crt", metavar="CRT")
@click.argument("key", metavar="KEY")
@app_options
@pass_state
def certs_add(state: CliState, app: str, crt: str, key: str) -> None:
    """Add an SSL certificate: CRT is a PEM certificate chain file (the server's first),
    KEY its unencrypted PEM private key file. It serves the app's custom domains it names."""
    chain, private_key = _read(crt, "certificate"), _read(key, "private key")
    with action(f"Adding SSL certificate to {app_label(app)}"):
        endpoint = state.client().create_sni_endpoint(app, chain, private_key)
    echo(f"Certificate {endpoint['name']} for {', '.join(endpoint['ssl_cert']['cert_domains'])}")
    if not endpoint["domains"]:
        echo("No custom domain of the app matches it yet: add one with cove domains:add.")


@click.command("certs:info")
@click.option("--name", metavar="NAME", help="the certificate (when the app has several)")
@app_options
@pass_state
def certs_info(state: CliState, app: str, name: str | None) -> None:
    """Show an SSL certificate of the app."""
    endpoint = _pick(state.client().list_sni_endpoints(app), name, app)
    cert = endpoint["ssl_cert"]
    header(endpoint["name"])
    rows = [
        ["Common Name(s):", ", ".join(cert["cert_domains"])],
        ["Starts At:", cert["starts_at"]],
        ["Expires At:", cert["expires_at"]],
        ["Issuer:", cert["issuer"]],
        ["Subject:", cert["subject"]],
        ["Domains:", str(len(endpoint["domains"]))],
    ]
    for line in table(rows):
        echo(line)


@click.command("certs:remove")
@click.option("--name", metavar="NAME", help="the certificate (when the app has several)")
@click.option("-c", "--confirm", metavar="APP", help="the app name, to confirm removal")
@app_options
@pass_state
def certs_remove(state: CliState, app: str, name: str | None, confirm: str | None) -> None:
    """Remove an SSL certificate: its domains get Cove's own certificate again."""
    require_confirmation(
        app,
        confirm,
        refusal="This command will remove an SSL certificate of the app.",
        prompt=f"WARNING: Destructive action\nThis removes an SSL certificate of {app}.",
    )
    client = state.client()
    endpoint = _pick(client.list_sni_endpoints(app), name, app)
    with action(f"Removing SSL certificate {endpoint['name']} from {app_label(app)}"):
        client.delete_sni_endpoint(app, endpoint["id"])


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (certs_ca, ()),
    (certs_list, ()),
    (certs_add, ()),
    (certs_info, ()),
    (certs_remove, ()),
]
