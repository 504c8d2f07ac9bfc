"""`cove certs:auto`, `certs:auto:enable`, `certs:auto:disable`, `certs:auto:refresh`:
Automated Certificate Management, Cove getting (from an ACME CA such as Let's Encrypt)
and renewing the certificates of the app's custom domains."""

from __future__ import annotations

import click

from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import (
    action,
    app_label,
    echo,
    format_time,
    header,
    require_confirmation,
    table,
)
from cove.client.types import Domain
from cove.domain import acm


def _rows(domains: list[Domain]) -> list[list[str]]:
    reasons = any(d.get("acm_status_reason") for d in domains)
    head = ["Domain", "Status", *(["Reason"] if reasons else []), "Last Updated"]
    rows = [head]
    for d in domains:
        reason = [d.get("acm_status_reason") or ""] if reasons else []
        rows.append(
            [d["hostname"], acm.label(d["acm_status"]), *reason, format_time(d["updated_at"])]
        )
    return rows


@click.command("certs:auto")
@app_options
@pass_state
def certs_auto(state: CliState, app: str) -> None:
    """Show Automatic Certificate Management's status for the app's custom domains."""
    client = state.client()
    if not client.get_app(app)["acm"]:
        header(f"Automatic Certificate Management is disabled on {app}")
        return
    header(f"Automatic Certificate Management is enabled on {app}")
    domains = [d for d in client.list_domains(app) if d["kind"] == "custom"]
    if not domains:
        header("Add a custom domain to your app by running: cove domains:add <yourdomain.com>")
        return
    for line in table(_rows(domains)):
        echo(line)
    statuses = {d["acm_status"] for d in domains}
    if acm.FAILED in statuses:
        echo()
        header("Some domains failed validation: retry with cove certs:auto:refresh")
    elif acm.FAILING in statuses:
        echo()
        header(
            "Some domains are failing validation: check that their DNS points at this "
            "server (cove domains) and see the reasons above"
        )


@click.command("certs:auto:enable")
@app_options
@pass_state
def certs_auto_enable(state: CliState, app: str) -> None:
    """Enable Automatic Certificate Management: Cove gets and renews a certificate for
    each custom domain (an http-01 challenge: the domain must reach this server's router
    on port 80)."""
    with action("Enabling Automatic Certificate Management") as status:
        state.client().enable_acm(app)
        status.detail = "starting"
    echo("Your certificates will now be managed by Cove. Check the status with cove certs:auto.")


@click.command("certs:auto:disable")
@click.option("-c", "--confirm", metavar="APP", help="the app name, to confirm")
@app_options
@pass_state
def certs_auto_disable(state: CliState, app: str, confirm: str | None) -> None:
    """Disable Automatic Certificate Management: the certificates it got are removed."""
    require_confirmation(
        app,
        confirm,
        refusal="This command will disable Automatic Certificate Management.",
        prompt=(
            "WARNING: Potentially Destructive Action\nThis command removes the certificates "
            f"Automatic Certificate Management got for {app}."
        ),
    )
    with action(f"Disabling Automatic Certificate Management for {app_label(app)}"):
        state.client().disable_acm(app)


@click.command("certs:auto:refresh")
@app_options
@pass_state
def certs_auto_refresh(state: CliState, app: str) -> None:
    """Try again now to get certificates for the domains that have none."""
    with action("Refreshing Automatic Certificate Management"):
        state.client().refresh_acm(app)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (certs_auto, ()),
    (certs_auto_enable, ()),
    (certs_auto_disable, ()),
    (certs_auto_refresh, ()),
]
