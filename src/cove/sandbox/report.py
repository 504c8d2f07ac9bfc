"""What isolation this host gives builds and dynos, said out loud at `cove server` start:
the sandbox degrades loudly, never silently."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field

from cove.sandbox import seccomp
from cove.sandbox.bwrap import probe, supports_ephemeral_mounts
from cove.sandbox.cgroups import Cgroups
from cove.sandbox.users import Users


@dataclass
class IsolationReport:
    in_force: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"Isolation in force: {item}" for item in self.in_force]
        out += [f"Isolation NOT in force: {item}" for item in self.missing]
        return out


def _namespaces_work() -> bool:
    return probe(
        "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--ro-bind", "/", "/", "--proc", "/proc"
    )


def check(users: Users, cgroups: Cgroups, network: str | None = None) -> IsolationReport:
    """``network``: why dynos have no network namespace of their own (None: they have)."""
    report = IsolationReport()
    if _namespaces_work():
        report.in_force.append(
            "each build and dyno in its own PID, IPC, UTS and mount namespace (system "
            "read-only, private /tmp, no view of COVE_HOME or of other apps)"
        )
    else:
        report.missing.append("bubblewrap cannot create namespaces on this host")
    if supports_ephemeral_mounts():
        report.in_force.append("ephemeral /app per dyno (an overlay on the read-only slug)")
    else:
        report.missing.append("overlay mounts: each dyno gets a full copy of its slug instead")
    if users.enabled:
        report.in_force.append(
            "per-app Unix users: each app's builds and dynos run as its own unprivileged "
            "user, without capabilities"
        )
    else:
        report.missing.append(
            "per-app Unix users: Cove is not running as root (or setpriv is missing), so "
            "every app runs as Cove's own user"
        )
    if seccomp.program() is not None:
        report.in_force.append(
            "seccomp: builds and dynos cannot create user namespaces or use kernel "
            "keyrings, bpf, perf events, userfaultfd or io_uring"
        )
    else:
        report.missing.append(
            f"seccomp: Cove has no system call filter for {platform.machine()}; builds and "
            "dynos may create user namespaces and use every system call"
        )
    applied = sorted(cgroups.controllers)
    if applied:
        report.in_force.append(
            f"per-dyno limits with cgroup {cgroups.version} ({', '.join(applied)}): dyno "
            "sizes set memory (R14/R15), process and CPU-weight limits; builds are capped too"
        )
    report.missing += cgroups.problems
    if "memory" not in cgroups.controllers:
        report.missing.append(
            "hard memory limits: dyno memory is polled (R14, and R15 kills at twice the "
            "quota) but a fast allocation can outrun the check"
        )
    if network is None:
        report.in_force.append(
            "network isolation: each dyno in its own network namespace, reachable only "
            "through the router; it reaches its own add-ons and the outside world, not other "
            "dynos, Cove's API or anything else on this host"
        )
    else:
        report.missing.append(
            f"network isolation ({network}): dynos share the host network namespace; "
            "services on 127.0.0.1 they can reach require credentials"
        )
    return report
