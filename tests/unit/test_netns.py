"""The dyno network pool, the nftables rules and a dyno's view of its add-on URLs
(cove.sandbox.netns); the real namespaces are exercised in
tests/e2e/test_network_isolation.py."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess

import pytest

from cove.sandbox.netns import LINK_PREFIX, Pool, dyno_config, elements, ruleset


def test_the_pool_hands_out_a_slash_30_per_dyno_and_keeps_the_last_for_add_ons() -> None:
    pool = Pool.parse("10.213.0.0/16")
    assert pool.size == 16383
    assert pool.subnet(0) == (
        ipaddress.IPv4Address("10.213.0.1"),
        ipaddress.IPv4Address("10.213.0.2"),
    )
    assert pool.subnet(1)[1] == ipaddress.IPv4Address("10.213.0.6")
    last_host, last_dyno = pool.subnet(pool.size - 1)
    assert last_dyno == ipaddress.IPv4Address("10.213.255.250")
    assert pool.addon_address == ipaddress.IPv4Address("10.213.255.254")
    assert pool.addon_address not in {last_host, last_dyno}
    with pytest.raises(IndexError):
        pool.subnet(pool.size)
    with pytest.raises(IndexError):
        pool.subnet(-1)


@pytest.mark.parametrize(
    ("text", "message"),
    [("10.213.0.0/30", "too small"), ("nonsense", "not an IPv4 network"), ("::/64", "IPv4")],
)
def test_a_bad_pool_setting_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        Pool.parse(text)
    assert "COVE_DYNO_NETWORK" in str(caught.value)


def test_a_small_pool_still_counts_right() -> None:
    pool = Pool.parse("192.168.77.0/28")
    assert pool.size == 3 and str(pool.addon_address) == "192.168.77.14"


def test_the_rules_let_dynos_reach_only_their_add_ons_and_the_outside() -> None:
    text = ruleset(Pool.parse("10.213.0.0/16"))
    dynos = f'"{LINK_PREFIX}*"'
    # Replies and add-on ports before the refusal; the set survives a rules update.
    input_rules = [line for line in text.splitlines() if " input " in line and "rule" in line]
    assert "ct state established,related accept" in input_rules[0]
    assert "ip saddr . tcp dport @addon_access accept" in input_rules[1]
    assert "10.213.255.254" in input_rules[1]
    assert all(dynos in rule for rule in input_rules[:4])
    assert "reject" in input_rules[2] and "reject" in input_rules[3]
    assert "add set inet cove addon_access" in text and "flush set" not in text
    assert f"oifname {dynos} reject" in text  # dyno to dyno
    assert f"ip saddr 10.213.0.0/16 oifname != {dynos} masquerade" in text


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
def test_the_rules_parse() -> None:
    check = subprocess.run(
        ["nft", "-c", "-f", "-"],
        input=ruleset(Pool.parse("10.213.0.0/16")),
        capture_output=True,
        text=True,
    )
    if "Operation not permitted" in check.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN here")
    assert check.returncode == 0, check.stderr


def test_set_elements_name_the_dyno_and_each_port_once() -> None:
    address = ipaddress.IPv4Address("10.213.0.2")
    assert elements(address, [6379, 5432, 6379]) == "10.213.0.2 . 5432, 10.213.0.2 . 6379"


def test_a_dyno_sees_its_add_on_urls_at_the_add_on_address() -> None:
    config = {
        "DATABASE_URL": "postgres://u:p%40ss@127.0.0.1:5432/d1",
        "REDIS_URL": "redis://:secret@localhost:6380",
        "OTHER_URL": "redis://:x@127.0.0.1:7000",  # not one of the app's add-on ports
        "EXTERNAL_URL": "postgres://u:p@db.example.com:5432/d",
        "PLAIN": "127.0.0.1:5432",
    }
    seen = dyno_config(config, {5432, 6380}, "10.213.255.254")
    assert seen["DATABASE_URL"] == "postgres://u:p%40ss@10.213.255.254:5432/d1"
    assert seen["REDIS_URL"] == "redis://:secret@10.213.255.254:6380"
    assert seen["OTHER_URL"] == config["OTHER_URL"]
    assert seen["EXTERNAL_URL"] == config["EXTERNAL_URL"]
    assert seen["PLAIN"] == config["PLAIN"]
    assert config["DATABASE_URL"].startswith("postgres://u:p%40ss@127.0.0.1")  # not changed
