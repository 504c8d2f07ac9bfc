"""How much each benchmark measures. The defaults keep a full run under ~10 minutes on
the 2-core dev machine; `--quick` is for checking that the suite works."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Config:
    cold_runs: int = 2  # new apps pushed per deploy benchmark (each has an empty cache)
    warm_runs: int = 5  # code-only pushes
    reference_runs: int = 3  # hyperfine runs of each venv+pip reference
    rollback_runs: int = 3
    wrk_seconds: float = 8  # per measured wrk run
    wrk_rounds: int = 2  # every target is measured this many times, interleaved
    wrk_threads: int = 2
    wrk_connections: int = 32
    nginx_workers: str = "1"  # like Cove's single router process
    zero_downtime_deploys: int = 5
    zero_downtime_connections: int = 8
    scale_to: int = 8
    scale_to_large: int = 32  # a second scale-out, and req/s through the router there
    density_apps: int = 20
    noisy_connections: int = 4  # wrk connections to the quiet app beside a flooding one
    one_off_runs: int = 10  # hyperfine runs of `cove run true`
    drain_connections: int = 4  # wrk connections to an app while its drain is up or down
    drain_seconds: float = 8  # each window over which drain deliveries are counted
    control_plane_requests: int = 200  # per fast API call (the slow lists get a tenth)
    many_apps: int = 100  # small apps x 1 web dyno on one server
    many_apps_restarts: int = 2  # server restarts timed with 1 app and with all of them

    def quick(self) -> Config:
        return replace(
            self,
            cold_runs=1,
            warm_runs=2,
            reference_runs=1,
            rollback_runs=1,
            wrk_seconds=3,
            wrk_rounds=1,
            zero_downtime_deploys=2,
            scale_to=3,
            scale_to_large=5,
            density_apps=3,
            one_off_runs=3,
            drain_seconds=3,
            control_plane_requests=40,
            many_apps=6,
            many_apps_restarts=1,
        )
