"""`cove domains`, `domains:add HOST`, `domains:info`, `domains:remove`, `domains:wait`,
`domains:clear`: the hostnames an app is served at besides ``<app>.<COVE_DOMAIN>``.

Point a CNAME record for the hostname at the DNS target shown (the app's default hostname);
Cove routes requests for the hostname to the app as soon as it is added."""

from __future__ import annotations

import json
import time

import click

from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import CliError, app_label, echo, header, table
from cove.client.types import Domain

WAIT_TIMEOUT = 600.0  # seconds domains:wait polls for a pending domain


def _record_type(hostname: str) -> str:
    # An apex name (example.com) can't have a CNAME: its DNS host's ALIAS/ANAME does it.
    return "CNAME" if hostname.count(".") >= 2 else "ALIAS or ANAME"


def _info(domain: Domain) -> list[list[str]]:
    endpoint = domain["sni_endpoint"]
    return [
        ["Hostname:", domain["hostname"]],
        ["Kind:", domain["kind"]],
        ["DNS Target:", domain["cname"] or ""],
        ["Status:", domain["status"]],
        ["SNI Endpoint:", endpoint["name"] if endpoint else ""],
        ["Id:", domain["id"]],
        ["Created at:", domain["created_at"]],
    ]


@click.command("domains")
@app_options
@click.option("--json", "as_json", is_flag=True, help="output in JSON format")
@pass_state
def domains_list(state: CliState, app: str, as_json: bool) -> None:
    """List the domains of an app: its default one and the custom ones."""
    domains = state.client().list_domains(app)
    if as_json:
        echo(json.dumps(domains, indent=2))
        return
    header(f"{app_label(app)} Heroku Domain")
    for domain in domains:
        if domain["kind"] == "heroku":
            echo(domain["hostname"])
    custom = [d for d in domains if d["kind"] == "custom"]
    if not custom:
        return
    echo()
    header(f"{app_label(app)} Custom Domains")
    rows = [["Domain Name", "DNS Record Type", "DNS Target", "SNI Endpoint"]]
    for d in custom:
        endpoint = d["sni_endpoint"]
        rows.append(
            [
                d["hostname"],
                _record_type(d["hostname"]),
                d["cname"] or "",
                endpoint["name"] if endpoint else "",
            ]
        )
    for line in table(rows):
        echo(line)


@click.command("domains:add")
@click.argument("hostname")
@app_options
@pass_state
def domains_add(state: CliState, app: str, hostname: str) -> None:
    """Add a custom domain (a wildcard like *.example.com matches one label)."""
    domain = state.client().create_domain(app, hostname)
    echo(f"Added {domain['hostname']} to {app_label(app)}")
    echo(
        f"Configure your app's DNS provider to point {domain['hostname']} at the DNS "
        f"target {domain['cname']} ({_record_type(domain['hostname'])} record)."
    )


@click.command("domains:info")
@click.argument("hostname")
@app_options
@pass_state
def domains_info(state: CliState, app: str, hostname: str) -> None:
    """Show a domain of an app."""
    domain = state.client().get_domain(app, hostname)
    header(domain["hostname"])
    for line in table(_info(domain)):
        echo(line)


@click.command("domains:remove")
@click.argument("hostname")
@app_options
@pass_state
def domains_remove(state: CliState, app: str, hostname: str) -> None:
    """Remove a custom domain: the router stops serving the app at it."""
    domain = state.client().delete_domain(app, hostname)
    echo(f"Removed {domain['hostname']} from {app_label(app)}")


@click.command("domains:clear")
@app_options
@pass_state
def domains_clear(state: CliState, app: str) -> None:
    """Remove every custom domain of an app."""
    client = state.client()
    removed = 0
    for domain in client.list_domains(app):
        if domain["kind"] == "custom":
            client.delete_domain(app, domain["id"])
            removed += 1
    echo(f"Removed {removed} custom domain(s) from {app_label(app)}")


@click.command("domains:wait")
@click.argument("hostname")
@app_options
@pass_state
def domains_wait(state: CliState, app: str, hostname: str) -> None:
    """Wait until a domain is ready. Cove has nothing to provision (no DNS of its own), so
    a domain is ready once added; this checks it exists and reports its status."""
    client = state.client()
    deadline = time.monotonic() + WAIT_TIMEOUT
    domain = client.get_domain(app, hostname)
    while domain["status"] == "pending":
        if time.monotonic() > deadline:
            raise CliError(f"{domain['hostname']} is still pending.")
        time.sleep(1.0)
        domain = client.get_domain(app, hostname)
    if domain["status"] == "failed":
        raise CliError(f"{domain['hostname']} failed.")
    echo(f"{domain['hostname']} is ready ({domain['status']})")


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (domains_list, ()),
    (domains_add, ()),
    (domains_info, ()),
    (domains_remove, ()),
    (domains_clear, ()),
    (domains_wait, ()),
]
