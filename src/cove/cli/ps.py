"""`cove ps`, `ps:scale`, `ps:restart`, `ps:stop`."""

from __future__ import annotations

import json
import re
from itertools import groupby

import click

from cove.cli.context import CliState, app_options, pass_state
from cove.cli.output import CliError, action, app_label, echo, format_time, header, table
from cove.client import Dyno, Formation, FormationUpdate
from cove.domain.dyno_sizes import MB

SCALE_ARG = re.compile(r"^(?P<type>[\w-]+)(?P<op>[=+-])(?P<qty>\d+)(?::(?P<size>[\w-]+))?$")
SCALE_USAGE = "Usage: cove ps:scale TYPE1=AMOUNT1[:SIZE] [TYPE2+N ...]"


def _dyno_index(dyno: Dyno) -> tuple[str, int, str]:
    name = dyno.get("name") or ""
    _, _, suffix = name.rpartition(".")
    return (dyno.get("type") or "", int(suffix) if suffix.isdigit() else 0, name)


def ps_lines(dynos: list[Dyno]) -> list[str]:
    """Heroku's `ps` layout: one `=== type (Size): command (N)` block per process type."""
    lines: list[str] = []
    ordered = sorted(dynos, key=_dyno_index)
    one_offs = [d for d in ordered if d.get("type") == "run"]
    if one_offs:
        lines.append(f"=== run: one-off processes ({len(one_offs)})")
        lines.append("")
        for dyno in one_offs:
            when = format_time(dyno["updated_at"])
            lines.append(
                f"{dyno['name']} ({dyno.get('size')}): {dyno.get('state')} {when}: "
                f"{dyno.get('command')}"
            )
        lines.append("")
    others = [d for d in ordered if d.get("type") != "run"]

    def group_key(d: Dyno) -> tuple[str, str, str]:
        return (d.get("type") or "", d.get("size") or "", d.get("command") or "")

    for (kind, size, command), group in groupby(sorted(others, key=group_key), key=group_key):
        members = sorted(group, key=_dyno_index)
        lines.append(f"=== {kind} ({size}): {command} ({len(members)})")
        lines.append("")
        for dyno in members:
            line = f"{dyno['name']}: {dyno.get('state')} {format_time(dyno['updated_at'])}"
            lines.append(line + _memory(dyno))
        lines.append("")
    return lines[:-1] if lines else lines


def _memory(dyno: Dyno) -> str:
    """`  mem=45MB(8.8%)` (Heroku's memory log format) where Cove reports the dyno's memory."""
    usage, quota = dyno.get("memory_usage"), dyno.get("memory_quota")
    if usage is None or not quota:
        return ""
    return f"  mem={usage / MB:.0f}MB({100 * usage / quota:.1f}%)"


@click.command("ps")
@app_options
@click.option("--json", "as_json", is_flag=True, help="output in JSON format")
@pass_state
def ps_list(state: CliState, app: str, as_json: bool) -> None:
    """List the dynos of an app."""
    dynos = state.client().list_dynos(app)
    if as_json:
        echo(json.dumps(dynos, indent=2))
        return
    if not dynos:
        echo(f"No dynos on {app_label(app)}")
        return
    for line in ps_lines(dynos):
        echo(line)


def parse_scale_args(args: tuple[str, ...]) -> list[FormationUpdate]:
    """`web=2`, `worker+1`, `web=2:standard-2x` → formation updates (relative as "+N"/"-N")."""
    updates: list[FormationUpdate] = []
    for arg in args:
        match = SCALE_ARG.match(arg)
        if not match:
            raise click.UsageError(f"Invalid argument {arg!r}.\n{SCALE_USAGE}")
        op, qty = match.group("op"), int(match.group("qty"))
        update: FormationUpdate = {
            "type": match.group("type"),
            "quantity": qty if op == "=" else f"{op}{qty}",
        }
        if match.group("size"):
            update["size"] = match.group("size")
        updates.append(update)
    return updates


def _formation_summary(formation: list[Formation]) -> str:
    return " ".join(sorted(f"{f['type']}={f['quantity']}:{f['size']}" for f in formation))


@click.command("ps:scale")
@click.argument("changes", nargs=-1, metavar="TYPE1=AMOUNT1[:SIZE] ...")
@app_options
@pass_state
def ps_scale(state: CliState, app: str, changes: tuple[str, ...]) -> None:
    """Scale dyno quantity (and size) up or down; no arguments prints the formation."""
    client = state.client()
    if not changes:
        formation = client.list_formation(app)
        if not formation:
            raise CliError(
                f"No process types on {app_label(app)}.\nUpload a Procfile to add process types."
            )
        echo(_formation_summary(formation))
        return
    updates = parse_scale_args(changes)
    with action("Scaling dynos") as status:
        result = client.batch_update_formation(app, updates)
        by_type = {f["type"]: f for f in result}
        running = [
            f"{u['type']} at {by_type[u['type']]['quantity']}:{by_type[u['type']]['size']}"
            for u in updates
            if u["type"] in by_type
        ]
        if running:
            status.detail = "now running " + ", ".join(dict.fromkeys(running))


@click.command("ps:type")
@click.argument("changes", nargs=-1, metavar="[TYPE=SIZE ... | SIZE]")
@app_options
@pass_state
def ps_type(state: CliState, app: str, changes: tuple[str, ...]) -> None:
    """Show the dyno size of each process type, or change it (`web=standard-2x`, or one
    size for every type). Resized dynos are replaced, with their new limits."""
    client = state.client()
    if changes:
        if len(changes) == 1 and "=" not in changes[0]:
            sizes = {f["type"]: changes[0] for f in client.list_formation(app)}
        else:
            sizes = {}
            for arg in changes:
                kind, sep, size = arg.partition("=")
                if not (kind and sep and size):
                    raise click.UsageError(
                        f"Invalid argument {arg!r}.\nUsage: cove ps:type TYPE=SIZE [TYPE=SIZE ...]"
                    )
                sizes[kind] = size
        updates: list[FormationUpdate] = [{"type": t, "size": s} for t, s in sizes.items()]
        with action(f"Scaling dynos on {app_label(app)}"):
            client.batch_update_formation(app, updates)
    formation = sorted(client.list_formation(app), key=lambda f: f["type"])
    if not formation:
        raise CliError(
            f"No process types on {app_label(app)}.\nUpload a Procfile to add process types."
        )
    header("Process Types")
    rows = [["Type", "Size", "Qty"]]
    rows += [[f["type"], f["size"], str(f["quantity"])] for f in formation]
    for line in table(rows):
        echo(line)


@click.command("ps:restart")
@click.argument("target", required=False, metavar="[TYPE|DYNO]")
@app_options
@click.option("-p", "--process-type", help="restart all dynos of this process type")
@click.option("-d", "--dyno-name", help="restart this dyno (e.g. web.1)")
@pass_state
def ps_restart(
    state: CliState,
    app: str,
    target: str | None,
    process_type: str | None,
    dyno_name: str | None,
) -> None:
    """Restart all dynos, a process type (`web`) or one dyno (`web.1`)."""
    if target:
        if "." in target:
            dyno_name = dyno_name or target
        else:
            process_type = process_type or target
    client = state.client()
    label = app_label(app)
    if dyno_name:
        with action(f"Restarting dyno {dyno_name} on {label}"):
            client.restart_dyno(app, dyno_name)
    elif process_type:
        with action(f"Restarting {process_type} dynos on {label}"):
            client.restart_process_type(app, process_type)
    else:
        with action(f"Restarting dynos on {label}"):
            client.restart_all_dynos(app)


@click.command("ps:stop")
@click.argument("target", metavar="TYPE|DYNO")
@app_options
@pass_state
def ps_stop(state: CliState, app: str, target: str) -> None:
    """Stop a dyno (`web.1`) or all dynos of a process type (`web`). Dynos of the formation
    are started again (use ps:scale to keep them off)."""
    client = state.client()
    what = f"dyno {target}" if "." in target else f"{target} dynos"
    with action(f"Stopping {what} on {app_label(app)}"):
        client.stop_dynos(app, target)


COMMANDS: list[tuple[click.Command, tuple[str, ...]]] = [
    (ps_list, ("ps:list",)),
    (ps_scale, ("scale",)),
    (ps_type, ("ps:resize", "resize", "dyno:type")),
    (ps_restart, ("restart",)),
    (ps_stop, ("stop", "ps:kill", "kill")),
]
