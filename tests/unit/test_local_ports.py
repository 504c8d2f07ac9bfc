"""`cove local`'s formation and port plan: base + instance index + 100 per process type."""

from __future__ import annotations

import pytest

from cove.local.formation import FormationError, parse_formation
from cove.local.plan import PortError, base_port, plan_processes

PROCFILE = {"web": "serve", "worker": "work", "release": "migrate", "clock": "tick"}


def ports(args: list[str], base: int = 5000) -> dict[str, int]:
    plan = plan_processes(parse_formation(args, PROCFILE), PROCFILE, base)
    return {p.name: p.port for p in plan}


def test_default_is_one_of_each_type_except_release_in_procfile_order() -> None:
    assert ports([]) == {"web.1": 5000, "worker.1": 5100, "clock.1": 5200}


def test_instances_add_one_and_types_add_a_hundred_in_the_order_given() -> None:
    assert ports(["worker=2", "web=3"], 6000) == {
        "worker.1": 6000,
        "worker.2": 6001,
        "web.1": 6100,
        "web.2": 6101,
        "web.3": 6102,
    }


def test_comma_separated_form_and_bare_names() -> None:
    assert ports(["web=2,worker"]) == {"web.1": 5000, "web.2": 5001, "worker.1": 5100}
    assert ports(["clock"]) == {"clock.1": 5000}


def test_a_type_with_count_zero_still_takes_its_port_block() -> None:
    assert ports(["web=0", "worker=1"]) == {"worker.1": 5100}


def test_release_runs_only_when_asked_for() -> None:
    assert ports(["release"]) == {"release.1": 5000}


def test_plan_carries_the_commands() -> None:
    plan = plan_processes({"web": 1}, PROCFILE, 5000)
    assert [(p.name, p.type, p.command) for p in plan] == [("web.1", "web", "serve")]


@pytest.mark.parametrize("arg", ["web=x", "web=", "=2", "web=-1", "we b", "web=2=3"])
def test_bad_formation_syntax_is_an_error(arg: str) -> None:
    with pytest.raises(FormationError, match="Invalid process formation"):
        parse_formation([arg], PROCFILE)


def test_unknown_process_type_is_an_error_listing_the_types() -> None:
    with pytest.raises(FormationError, match=r"No 'wbe' process type.*web, worker"):
        parse_formation(["wbe=2"], PROCFILE)


def test_too_many_processes_of_one_type() -> None:
    with pytest.raises(FormationError, match="at most 100"):
        parse_formation(["web=101"], PROCFILE)


def test_base_port_precedence() -> None:
    assert base_port("7000", {"PORT": "8000"}, {"PORT": "9000"}) == 7000
    assert base_port(None, {"PORT": "8000"}, {"PORT": "9000"}) == 8000
    assert base_port(None, {}, {"PORT": "9000"}) == 9000
    assert base_port(None, {}, {}) == 5000
    assert base_port("", {"PORT": ""}, {}) == 5000


@pytest.mark.parametrize(
    ("flag", "message"), [("80", "privileged"), ("abc", "expected a number"), ("0", "privileged")]
)
def test_bad_base_ports(flag: str, message: str) -> None:
    with pytest.raises(PortError, match=message):
        base_port(flag, {}, {})


def test_a_port_above_65535_is_refused() -> None:
    with pytest.raises(PortError, match=r"web\.2 would get port 65536"):
        ports(["web=2"], 65535)
