from cove.sandbox.bwrap import (
    Launch,
    Mount,
    SandboxUnavailable,
    bwrap_path,
    command,
    supports_ephemeral_mounts,
)
from cove.sandbox.processes import (
    kill_sandbox,
    resident_bytes,
    sandbox_namespace,
    signal_sandbox,
)
from cove.sandbox.report import IsolationReport, check
from cove.sandbox.spawn import spawn
from cove.sandbox.users import SandboxUser, Users

__all__ = [
    "IsolationReport",
    "Launch",
    "Mount",
    "SandboxUnavailable",
    "SandboxUser",
    "Users",
    "bwrap_path",
    "check",
    "command",
    "kill_sandbox",
    "resident_bytes",
    "sandbox_namespace",
    "signal_sandbox",
    "spawn",
    "supports_ephemeral_mounts",
]
