"""Where each local process listens: ``PORT = base + instance index + 100 * type index``,
types in formation order (``web=2 worker=1`` from 5000: web.1 5000, web.2 5001,
worker.1 5100), as `heroku local` assigns them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cove.domain.errors import InvalidParams

DEFAULT_BASE_PORT = 5000
PORTS_PER_TYPE = 100


class PortError(InvalidParams):
    pass


@dataclass(frozen=True)
class LocalProcess:
    name: str  # "web.1"
    type: str
    command: str
    port: int


def base_port(flag: str | None, dotenv: Mapping[str, str], shell: Mapping[str, str]) -> int:
    """``-p`` wins, then ``PORT`` from the env file, then ``PORT`` in the shell, then 5000."""
    sources = (("-p", flag), (".env PORT", dotenv.get("PORT")), ("PORT", shell.get("PORT")))
    for source, value in sources:
        if value is None or value == "":
            continue
        try:
            port = int(value.strip())
        except ValueError:
            raise PortError(f"Invalid port {value!r} (from {source}): expected a number.") from None
        if port < 1024:
            raise PortError(f"Port {port} (from {source}) is a privileged port; use 1024 or above.")
        return port
    return DEFAULT_BASE_PORT


def plan_processes(
    formation: Mapping[str, int], procfile: Mapping[str, str], base: int
) -> list[LocalProcess]:
    processes = []
    for type_index, (type_, count) in enumerate(formation.items()):
        for index in range(count):
            port = base + index + PORTS_PER_TYPE * type_index
            if port > 65535:
                raise PortError(
                    f"{type_}.{index + 1} would get port {port}, above 65535; use a lower -p."
                )
            processes.append(LocalProcess(f"{type_}.{index + 1}", type_, procfile[type_], port))
    return processes
