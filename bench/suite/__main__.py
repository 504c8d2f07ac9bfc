"""Run the benchmark suite: `bench/run [--quick] [--json PATH] [BENCHMARK ...]`."""

from __future__ import annotations

import argparse
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.suite import (
    control_plane,
    density,
    deploy,
    drain,
    many_apps,
    noisy,
    one_off,
    rollback,
    router,
    scale,
    swarm,
    zero_downtime,
)
from bench.suite.config import Config
from bench.suite.report import Section, save, table
from bench.suite.tools import BENCH, background_cpu

BENCHMARKS: dict[str, Callable[[Config], Section]] = {
    "deploy": deploy.run,
    "rollback": rollback.run,
    "router": router.run,
    "zero-downtime": zero_downtime.run,
    "scale": scale.run,
    "density": density.run,
    "noisy-neighbour": noisy.run,
    "one-off": one_off.run,
    "drain": drain.run,
    "control-plane": control_plane.run,
    "many-apps": many_apps.run,
    "swarm": swarm.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument(
        "benchmarks",
        nargs="*",
        metavar="BENCHMARK",
        help=f"any of: {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs (smoke test)")
    parser.add_argument(
        "--json", type=Path, default=BENCH / "results" / "latest.json", help="raw numbers"
    )
    args = parser.parse_args(argv)
    config = Config().quick() if args.quick else Config()
    names = args.benchmarks or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(unknown)}; pick from {', '.join(BENCHMARKS)}"
        )

    started = time.time()
    sections: list[Section] = []
    for name in names:
        print(f"== {name}", flush=True)
        background = background_cpu()
        t0 = time.perf_counter()
        try:
            section = BENCHMARKS[name](config)
        except Exception as exc:  # one broken benchmark doesn't lose the others' figures
            traceback.print_exc()
            section = Section(name, error=f"{type(exc).__name__}: {exc}")
        section.background_cores = background
        section.seconds = time.perf_counter() - t0
        print(f"   done in {section.seconds:.0f} s", flush=True)
        sections.append(section)
        save(args.json, sections, started)

    print()
    print(table(sections))
    print(f"\nraw numbers: {args.json}  (total {time.time() - started:.0f} s)")
    return 1 if any(s.error for s in sections) else 0


if __name__ == "__main__":
    raise SystemExit(main())
