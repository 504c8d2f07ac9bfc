"""Automated Certificate Management's logic: its rules (cove.domain.acm), the http-01
challenges the router answers, the store's side (cove.services.acm) and the manager's
handling of an issuer's results (a fake issuer; the real one meets Pebble in
tests/e2e/test_acm.py)."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import os
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from cove import tls
from cove.acm import account
from cove.acm import issuer as issuer_module
from cove.acm.challenges import Http01Challenges, response
from cove.acm.issuer import AcmeIssuer
from cove.acm.manager import AcmManager, Issued, IssueError
from cove.domain import acm
from cove.domain.errors import InvalidParams
from cove.ports import free_port
from cove.services import acm as acm_service
from cove.services import apps, domains, sni_endpoints
from cove.store import App, Domain, SniEndpoint, Store
from tests.unit.accounts import add_account

# Every test here runs on a SQLite and on a PostgreSQL store (tests/unit/conftest.py).
BOTH_STORES = True

DAY = datetime.timedelta(days=1)
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


# -- rules -----------------------------------------------------------------------------


def test_renewal_is_due_with_a_third_of_the_life_left_or_30_days() -> None:
    start = NOW - 10 * DAY
    ninety = start + 90 * DAY  # Let's Encrypt's: renewed 30 days before expiry
    assert not acm.renewal_due(start, ninety, ninety - 31 * DAY)
    assert acm.renewal_due(start, ninety, ninety - 29 * DAY)
    six = start + 6 * DAY  # a short-lived one: at a third of its life
    assert not acm.renewal_due(start, six, six - 3 * DAY)
    assert acm.renewal_due(start, six, six - DAY)
    years = start + 5 * 365 * DAY  # (Pebble's): 30 days before, not a third
    assert not acm.renewal_due(start, years, years - 365 * DAY)
    assert acm.renewal_due(start, years, years - 29 * DAY)


def test_which_statuses_are_tried() -> None:
    assert acm.needs_issuing(None, retry_failing=False)
    assert acm.needs_issuing(acm.PENDING, retry_failing=False)
    assert not acm.needs_issuing(acm.FAILING, retry_failing=False)
    assert acm.needs_issuing(acm.FAILING, retry_failing=True)
    assert not acm.needs_issuing(acm.FAILED, retry_failing=True)  # a refresh only
    assert not acm.needs_issuing(acm.ISSUED, retry_failing=True)


def test_reasons_lose_tokens_and_are_bounded() -> None:
    text = "fetch http://h/.well-known/acme-challenge/TOKEN123 got TOKEN123.THUMB"
    assert acm.scrub(text, ["TOKEN123.THUMB", "TOKEN123"]) == (
        "fetch http://h/.well-known/acme-challenge/[redacted] got [redacted]"
    )
    long = acm.scrub("x" * 5000, [])
    assert len(long) == acm.MAX_REASON and long.endswith("...")


def test_status_labels() -> None:
    assert acm.label(acm.ISSUED) == "Cert issued"
    assert acm.label(acm.PENDING) == "In progress"
    assert acm.label(acm.FAILING) == "Failing"
    assert acm.label(None) == "Waiting"


# -- http-01 challenges ------------------------------------------------------------------


def test_challenges_are_answered_for_their_host_and_token_only() -> None:
    ch = Http01Challenges()
    path = b"/.well-known/acme-challenge/tok-1"
    assert ch.answer("www.example.com", path) is None
    ch.add("www.example.com", "tok-1", "tok-1.thumb")
    assert ch.answer("www.example.com", path) == b"tok-1.thumb"
    assert ch.answer("www.example.com", path + b"?x=1") == b"tok-1.thumb"
    assert ch.answer("other.example.com", path) is None  # another host: the app's own
    assert ch.answer("www.example.com", b"/.well-known/acme-challenge/tok-2") is None
    assert ch.answer("www.example.com", b"/tok-1") is None
    assert ch.answer("www.example.com", b"/.well-known/acme-challenge/\xff") is None
    ch.remove("www.example.com", "tok-1")
    assert ch.answer("www.example.com", path) is None and len(ch) == 0


def test_challenge_response_is_the_key_authorization_as_text() -> None:
    raw = response(b"tok.thumb", head_request=False, close=False, http11=True)
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: 9" in head
    assert b"Content-Type: text/plain" in head and body == b"tok.thumb"
    head_only = response(b"tok.thumb", head_request=True, close=True, http11=True)
    assert head_only.endswith(b"\r\n\r\n") and b"Connection: close" in head_only


# -- the account key ---------------------------------------------------------------------


def test_account_key_is_made_once_and_private(tmp_path: Path) -> None:
    first = account.load_or_create(tmp_path / "acme")
    path = tmp_path / "acme" / account.KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "acme").st_mode) == 0o700
    assert account.load_or_create(tmp_path / "acme").thumbprint() == first.thumbprint()


def test_an_unreachable_directory_is_a_clear_reason(tmp_path: Path) -> None:
    issuer = AcmeIssuer(
        f"https://127.0.0.1:{free_port()}/dir", "", tmp_path, Http01Challenges(), 10
    )
    with pytest.raises(IssueError) as failed:
        asyncio.run(issuer.issue("www.example.com"))
    assert "can't be reached" in failed.value.reason and "127.0.0.1" in failed.value.reason


class _HugeDirectory(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"x": "' + b"a" * (issuer_module.MAX_RESPONSE + 10) + b'"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()  # no Content-Length: read until the cap
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_an_oversized_answer_is_refused(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HugeDirectory)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/dir"
        issuer = AcmeIssuer(url, "", tmp_path, Http01Challenges(), 10)
        with pytest.raises(IssueError, match="sent an answer over 1048576 bytes"):
            asyncio.run(issuer.issue("www.example.com"))
    finally:
        server.shutdown()
        server.server_close()


def test_an_issuance_past_its_deadline_is_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = threading.Event()
    monkeypatch.setattr(issuer_module, "REQUEST_TIMEOUT", 0.01)
    issuer = AcmeIssuer("https://127.0.0.1:9/dir", "", tmp_path, Http01Challenges(), 0.05)
    monkeypatch.setattr(issuer, "issue_blocking", lambda hostname: stuck.wait(30))
    try:
        with pytest.raises(IssueError, match=r"didn't finish within 0\.05 s"):
            asyncio.run(issuer.issue("www.example.com"))
    finally:
        stuck.set()


# -- the store's side --------------------------------------------------------------------


def certificate(tmp_path: Path, hostname: str, days: int = 90) -> tuple[str, str]:
    ca = tls.ensure_ca(tls.TlsFiles(tmp_path / "ca"))
    crt, key = tmp_path / f"{hostname}-{days}.pem", tmp_path / f"{hostname}-{days}-key.pem"
    tls.issue(ca, [hostname], crt, key, days=days)
    return crt.read_text(), key.read_text()


@pytest.fixture
def app(store: Store) -> App:
    owner = add_account(store, "owner@example.com")
    return apps.create(store, owner, "shop")


def domain_row(store: Store, hostname: str) -> Domain:
    with store.session() as s:
        row = s.scalar(select(Domain).where(Domain.hostname == hostname))
        assert row is not None
        return row


def endpoints(store: Store) -> list[SniEndpoint]:
    return sni_endpoints.list_all(store)


def test_enable_marks_domains_pending_and_they_are_due(store: Store, app: App) -> None:
    domains.create(store, app, "www.shop.test", "localhost")
    assert acm_service.due(store, NOW, retry_failing=True) == []  # ACM off
    assert acm_service.enable(store, app).acm
    assert domain_row(store, "www.shop.test").acm_status == acm.PENDING
    domains.create(store, app, "api.shop.test", "localhost")  # added later: due too
    due = acm_service.due(store, NOW, retry_failing=False)
    assert sorted(w.hostname for w in due) == ["api.shop.test", "www.shop.test"]
    assert not any(w.renewal for w in due)


def test_issued_certificate_serves_the_domain_and_failures_keep_it(
    store: Store, app: App, tmp_path: Path
) -> None:
    domains.create(store, app, "www.shop.test", "localhost")
    acm_service.enable(store, app)
    [work] = acm_service.due(store, NOW, retry_failing=False)
    chain, key = certificate(tmp_path, "www.shop.test")
    assert acm_service.issued(store, work, chain, key)
    row = domain_row(store, "www.shop.test")
    [endpoint] = endpoints(store)
    assert (
        endpoint.acm and endpoint.private_key == key and endpoint.cert_domains == ["www.shop.test"]
    )
    assert row.sni_endpoint == endpoint.name and row.acm_status == acm.ISSUED
    assert acm_service.due(store, NOW, retry_failing=True) == []  # fresh: nothing to do

    # Due for renewal later; a failed renewal keeps the certificate, with the reason.
    later = datetime.datetime.now(datetime.UTC) + 80 * DAY
    [renewal] = acm_service.due(store, later, retry_failing=False)
    assert renewal.renewal
    acm_service.set_status(store, renewal, acm.FAILING, "CA down")
    row = domain_row(store, "www.shop.test")
    assert (row.acm_status, row.acm_status_reason) == (acm.FAILING, "CA down")
    assert row.sni_endpoint == endpoint.name and endpoints(store)[0].certificate_chain == chain
    # A renewal replaces it in place (same endpoint).
    new_chain, new_key = certificate(tmp_path, "www.shop.test", days=89)
    assert acm_service.issued(store, renewal, new_chain, new_key)
    [renewed] = endpoints(store)
    assert renewed.name == endpoint.name and renewed.certificate_chain == new_chain
    assert domain_row(store, "www.shop.test").acm_status_reason is None


def test_disable_removes_acm_certificates_and_falls_back_to_uploaded_ones(
    store: Store, app: App, tmp_path: Path
) -> None:
    domains.create(store, app, "www.shop.test", "localhost")
    domains.create(store, app, "api.shop.test", "localhost")
    acm_service.enable(store, app)
    for work in acm_service.due(store, NOW, retry_failing=False):
        chain, key = certificate(tmp_path, work.hostname)
        acm_service.issued(store, work, chain, key)
    uploaded_chain, uploaded_key = certificate(tmp_path, "api.shop.test", days=30)
    uploaded = sni_endpoints.create(store, app, uploaded_chain, uploaded_key)

    assert not acm_service.disable(store, app).acm
    assert [e.name for e in endpoints(store)] == [uploaded.name]
    www, api = domain_row(store, "www.shop.test"), domain_row(store, "api.shop.test")
    assert www.sni_endpoint is None and api.sni_endpoint == uploaded.name
    assert www.acm_status is None and api.acm_status is None


def test_results_for_a_domain_gone_or_acm_off_are_dropped(
    store: Store, app: App, tmp_path: Path
) -> None:
    domains.create(store, app, "www.shop.test", "localhost")
    acm_service.enable(store, app)
    [work] = acm_service.due(store, NOW, retry_failing=False)
    acm_service.disable(store, app)
    chain, key = certificate(tmp_path, "www.shop.test")
    assert not acm_service.issued(store, work, chain, key)
    assert endpoints(store) == []


def test_an_acm_certificate_whose_domain_is_removed_goes_too(
    store: Store, app: App, tmp_path: Path
) -> None:
    domains.create(store, app, "www.shop.test", "localhost")
    acm_service.enable(store, app)
    [work] = acm_service.due(store, NOW, retry_failing=False)
    acm_service.issued(store, work, *certificate(tmp_path, "www.shop.test"))
    domains.remove(store, app, "www.shop.test")
    assert acm_service.due(store, NOW, retry_failing=True) == []
    assert endpoints(store) == []


def test_refresh_needs_acm_on_and_retries_failures(store: Store, app: App) -> None:
    with pytest.raises(InvalidParams, match="not enabled"):
        acm_service.refresh(store, app)
    domains.create(store, app, "www.shop.test", "localhost")
    acm_service.enable(store, app)
    [work] = acm_service.due(store, NOW, retry_failing=False)
    acm_service.set_status(store, work, acm.FAILED, "no")
    assert acm_service.due(store, NOW, retry_failing=True) == []
    acm_service.refresh(store, app)
    row = domain_row(store, "www.shop.test")
    assert (row.acm_status, row.acm_status_reason) == (acm.PENDING, None)


# -- the manager -------------------------------------------------------------------------


class FakeIssuer:
    def __init__(self, tmp_path: Path, fail: Exception | None = None) -> None:
        self.tmp_path = tmp_path
        self.fail = fail
        self.asked: list[str] = []

    async def issue(self, hostname: str) -> Issued:
        self.asked.append(hostname)
        if self.fail is not None:
            raise self.fail
        chain, key = certificate(self.tmp_path, hostname)
        return Issued(chain, key)


def run_pass(manager: AcmManager, *, retry_failing: bool = True) -> None:
    asyncio.run(manager._pass(retry_failing=retry_failing))


def test_manager_issues_and_records_failures(store: Store, app: App, tmp_path: Path) -> None:
    domains.create(store, app, "www.shop.test", "localhost")
    domains.create(store, app, "*.wild.test", "localhost")
    acm_service.enable(store, app)
    failing = FakeIssuer(tmp_path, IssueError("The ACME directory at x can't be reached."))
    run_pass(AcmManager(store, failing, 60))
    assert failing.asked == ["www.shop.test"]  # a wildcard is never asked for
    row = domain_row(store, "www.shop.test")
    assert (row.acm_status, row.acm_status_reason) == (
        acm.FAILING,
        "The ACME directory at x can't be reached.",
    )
    wild = domain_row(store, "*.wild.test")
    assert (wild.acm_status, wild.acm_status_reason) == (acm.FAILED, acm.WILDCARD_REASON)

    working = FakeIssuer(tmp_path)
    run_pass(AcmManager(store, working, 60), retry_failing=False)
    assert working.asked == []  # failing ones wait for the periodic check
    run_pass(AcmManager(store, working, 60))
    assert working.asked == ["www.shop.test"]
    assert domain_row(store, "www.shop.test").acm_status == acm.ISSUED


def test_manager_survives_an_unexpected_error(store: Store, app: App, tmp_path: Path) -> None:
    domains.create(store, app, "www.shop.test", "localhost")
    acm_service.enable(store, app)
    run_pass(AcmManager(store, FakeIssuer(tmp_path, RuntimeError("bug")), 60))
    row = domain_row(store, "www.shop.test")
    assert row.acm_status == acm.FAILING and "unexpectedly" in (row.acm_status_reason or "")
