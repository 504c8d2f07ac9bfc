"""`cove certs:ca`: Cove's certificate authority, and how to make other tools trust it."""

from __future__ import annotations

import shlex

import click

from cove.cli import trust
from cove.cli.context import CliState, pass_state
from cove.cli.output import CliError, echo


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


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [(certs_ca, ())]
