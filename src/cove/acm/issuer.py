"""Getting one domain's certificate from an ACME CA (RFC 8555) with certbot's ``acme``
library: account (by the key), order, http-01 challenge answered by the router
(``Http01Challenges``), finalization with a fresh key's CSR, the chain checked like an
uploaded one.

It is blocking (``requests``), so it runs in a daemon thread of its own: a server that
stops never waits for it. Every request has a timeout and the whole issuance a deadline;
whatever goes wrong is an ``IssueError`` whose reason is fit to show a user (the CA's
message without tokens or key authorizations).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import threading
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import josepy as jose
import requests
from acme import challenges as acme_challenges
from acme import client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cove.acm import account
from cove.acm.challenges import Http01Challenges
from cove.acm.manager import Issued, IssueError
from cove.domain import acm, certificates
from cove.domain.errors import InvalidParams

log = logging.getLogger("cove.acm")
# The library's debug lines hold whole requests and answers (challenge tokens among them).
logging.getLogger("acme").setLevel(logging.WARNING)

REQUEST_TIMEOUT = 10  # seconds, each request to the CA
MAX_RESPONSE = 1024 * 1024  # bytes of one answer from the CA (a chain is a few KB)
USER_AGENT = "cove-acm"


class _TooLarge(Exception):
    pass


def _capped(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """A response hook (it runs before requests reads the body): read at most
    MAX_RESPONSE bytes of it, or refuse the answer."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > MAX_RESPONSE:
        response.close()
        raise _TooLarge()
    body = response.raw.read(MAX_RESPONSE + 1, decode_content=True)
    if len(body) > MAX_RESPONSE:
        response.close()
        raise _TooLarge()
    response._content = body
    response._content_consumed = True
    return response


class AcmeIssuer:
    def __init__(
        self,
        directory_url: str,
        ca_file: str,
        account_dir: Path,
        challenges: Http01Challenges,
        timeout: float,
    ) -> None:
        self.directory_url = directory_url
        self.ca_file = ca_file
        self.account_dir = account_dir
        self.challenges = challenges
        self.timeout = timeout
        self._key: jose.JWKRSA | None = None

    @property
    def _host(self) -> str:
        parts = urlsplit(self.directory_url)
        return parts.netloc or self.directory_url

    async def issue(self, hostname: str) -> Issued:
        """``issue_blocking`` in a daemon thread (not the loop's executor, which a stopping
        server would wait for)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Issued] = loop.create_future()

        def settle(result: Issued | None, exc: BaseException | None) -> None:
            if done.done():
                return
            if exc is not None:
                done.set_exception(exc)
            else:
                done.set_result(cast(Issued, result))

        def work() -> None:
            result: Issued | None = None
            error: BaseException | None = None
            try:
                result = self.issue_blocking(hostname)
            except BaseException as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is gone: the server stopped
                loop.call_soon_threadsafe(settle, result, error)

        threading.Thread(target=work, name="cove-acme", daemon=True).start()
        # Each request has a timeout, but one trickling bytes could outlast the deadline:
        # past it (and a margin) the thread is left to end on its own, its result ignored.
        try:
            return await asyncio.wait_for(done, self.timeout + 2 * REQUEST_TIMEOUT)
        except TimeoutError:
            raise IssueError(self._too_slow) from None

    @property
    def _too_slow(self) -> str:
        return f"The ACME server didn't finish within {self.timeout:g} s; tried again later."

    def issue_blocking(self, hostname: str) -> Issued:
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=self.timeout)
        secrets: list[str] = []
        try:
            return self._issue(hostname, deadline, secrets)
        except IssueError:
            raise
        except requests.exceptions.SSLError:
            raise IssueError(
                f"The ACME directory's certificate ({self._host}) can't be verified: "
                "trust its CA with COVE_ACME_CA_FILE."
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise IssueError(
                f"The ACME directory at {self._host} can't be reached ({type(exc).__name__})."
            ) from None
        except errors.ValidationError as exc:
            details = [
                _problem(challenge.error, secrets)
                for authzr in exc.failed_authzrs
                for challenge in authzr.body.challenges
                if challenge.error is not None
            ]
            raise IssueError(
                f"{hostname} failed validation: " + "; ".join(details or ["no reason given"])
            ) from None
        except errors.TimeoutError:
            raise IssueError(self._too_slow) from None
        except _TooLarge:
            raise IssueError(
                f"The ACME server at {self._host} sent an answer over {MAX_RESPONSE} bytes."
            ) from None
        except errors.IssuanceError as exc:
            raise IssueError(f"The CA refused: {_problem(exc.error, secrets)}") from None
        except messages.Error as exc:
            raise IssueError(f"The ACME server refused: {_problem(exc, secrets)}") from None
        except (errors.Error, jose.errors.Error, ValueError, KeyError) as exc:
            raise IssueError(
                f"The ACME server's answer can't be used ({type(exc).__name__})."
            ) from None

    def _issue(self, hostname: str, deadline: datetime.datetime, secrets: list[str]) -> Issued:
        if self._key is None:
            self._key = account.load_or_create(self.account_dir)
        key = self._key
        verify: Any = self.ca_file or True  # requests takes a CA bundle's path too
        net = client.ClientNetwork(
            key, verify_ssl=verify, user_agent=USER_AGENT, timeout=REQUEST_TIMEOUT
        )
        net.session.hooks["response"].append(_capped)
        try:
            directory = client.ClientV2.get_directory(self.directory_url, net)
            acme = client.ClientV2(directory, net)
            registration = messages.NewRegistration.from_data(terms_of_service_agreed=True)
            try:
                acme.new_account(registration)
            except errors.ConflictError as exc:  # the key's account exists: use it
                net.account = messages.RegistrationResource(
                    uri=exc.location, body=messages.Registration()
                )
            _check(deadline)
            cert_key = ec.generate_private_key(ec.SECP256R1())
            key_pem = cert_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            csr = crypto_util.make_csr(key_pem, [hostname])
            order = acme.new_order(csr)
            answered: list[str] = []
            try:
                for authzr in order.authorizations:
                    if authzr.body.status == messages.STATUS_VALID:
                        continue  # validated recently: the CA reuses it
                    challb = _http01(authzr, hostname)
                    response, validation = challb.response_and_validation(key)
                    token = challb.chall.encode("token")
                    secrets += [validation, token]
                    self.challenges.add(hostname, token, validation)
                    answered.append(token)
                    _check(deadline)
                    acme.answer_challenge(challb, response)
                order = acme.poll_and_finalize(order, deadline)
            finally:
                for token in answered:
                    self.challenges.remove(hostname, token)
        finally:
            net.session.close()
        chain = order.fullchain_pem
        private_key = key_pem.decode()
        try:
            info = certificates.check(chain, private_key)
        except InvalidParams as exc:
            raise IssueError(f"The certificate the CA sent can't be used: {exc}") from None
        if not certificates.covers(info.cert_domains, hostname):
            raise IssueError(f"The certificate the CA sent doesn't name {hostname}.")
        log.info("ACM: certificate issued for %s (expires %s)", hostname, info.expires_at)
        return Issued(certificate_chain=chain, private_key=private_key)


def _http01(authzr: messages.AuthorizationResource, hostname: str) -> messages.ChallengeBody:
    for challb in authzr.body.challenges:
        if isinstance(challb.chall, acme_challenges.HTTP01):
            return challb
    raise IssueError(f"The ACME server offers no http-01 challenge for {hostname}.")


def _check(deadline: datetime.datetime) -> None:
    if datetime.datetime.now() >= deadline:
        raise errors.TimeoutError()


def _problem(error: messages.Error | None, secrets: list[str]) -> str:
    if error is None:
        return "no reason given"
    text = error.detail or error.code or str(error.typ)
    return acm.scrub(str(text), secrets)
