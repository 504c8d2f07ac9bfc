"""Rows of the results table and how they are printed and saved."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One figure: Cove's value beside its reference, measured in the same run.

    ``ratio`` is cove / reference. ``target`` is a human-readable goal; ``ok`` says whether
    this run met it (None when there is no target to check)."""

    figure: str
    unit: str
    cove: float | None
    reference: float | None = None
    reference_name: str = ""
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.cove is None or not self.reference:
            return None
        return self.cove / self.reference


@dataclass
class Section:
    """The rows of one benchmark plus its raw numbers (everything measured, for the JSON)."""

    name: str
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    background_cores: float | None = None
    seconds: float = 0.0
    error: str | None = None


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if unit == "req/s" or abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif value == int(value) and unit in ("", "requests", "dynos"):
        text = f"{value:.0f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def table(sections: list[Section]) -> str:
    header = ("figure", "Cove", "reference", "ratio", "target", "")
    lines: list[tuple[str, ...]] = []
    notes: list[str] = []
    for section in sections:
        if section.error:
            lines.append((f"{section.name}: FAILED", "", "", "", "", section.error[:60]))
            continue
        for row in section.rows:
            ref = _num(row.reference, row.unit) if row.reference is not None else "-"
            if row.reference_name and row.reference is not None:
                ref = f"{ref} ({row.reference_name})"
            ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
            mark = {True: "ok", False: "MISS", None: ""}[row.ok]
            if row.note:
                notes.append(f"{row.figure}: {row.note}")
            lines.append((row.figure, _num(row.cove, row.unit), ref, ratio, row.target, mark))
        if section.background_cores is not None and section.background_cores >= 0.25:
            notes.append(
                f"{section.name}: other work kept ~{section.background_cores} of "
                f"{os.cpu_count()} cores busy when it started; its figures are noisy"
            )
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in lines]
    rule = "  ".join("-" * w for w in widths)
    head = "  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()
    text = "\n".join([head, rule, *out])
    if notes:
        text += "\n\nnotes:\n" + "\n".join(f"  - {n}" for n in notes)
    return text


def _tool_version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "missing"
    return (done.stdout or done.stderr).strip().splitlines()[0] if done else ""


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": _tool_version(["wrk", "--version"]),
        "hyperfine": _tool_version(["hyperfine", "--version"]),
        "nginx": _tool_version(["nginx", "-v"]),
    }


def save(path: Path, sections: list[Section], started: float) -> None:
    data = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": machine(),
        "sections": {
            s.name: {
                "rows": [{**asdict(r), "ratio": r.ratio} for r in s.rows],
                "raw": s.raw,
                "background_cores": s.background_cores,
                "seconds": round(s.seconds, 1),
                "error": s.error,
            }
            for s in sections
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
