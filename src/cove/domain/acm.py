"""Automated Certificate Management (`certs:auto`): the rules, without I/O.

A custom domain of an app with ACM on has an ``acm_status`` (Heroku's words):
``pending`` while Cove is getting its certificate, ``cert issued`` once it has one,
``failing`` when the last try failed (tried again at each check, the reason in
``acm_status_reason``), ``failed`` when it can never succeed as it is (a wildcard domain);
``None`` when ACM is off, or before the first try.
"""

from __future__ import annotations

import datetime

PENDING = "pending"
ISSUED = "cert issued"
FAILING = "failing"
FAILED = "failed"

# How the CLI shows a status (Heroku's CLI capitalizes the words; None: not tried yet).
LABELS = {
    None: "Waiting",
    PENDING: "In progress",
    ISSUED: "Cert issued",
    FAILING: "Failing",
    FAILED: "Failed",
}

# Renew when the certificate has less than this much of its life left (Let's Encrypt's
# 90-day certificates: at 30 days left), and never later than RENEW_AT_MOST before expiry.
RENEW_FRACTION = 1 / 3
RENEW_AT_MOST = datetime.timedelta(days=30)

WILDCARD_REASON = (
    "ACM can't get a certificate for a wildcard domain (that needs a DNS challenge): "
    "add one yourself with cove certs:add."
)

MAX_REASON = 500  # a CA's error detail is shown, within reason


def label(status: str | None) -> str:
    return LABELS.get(status, (status or "").capitalize())


def renewal_due(
    starts_at: datetime.datetime, expires_at: datetime.datetime, now: datetime.datetime
) -> bool:
    """Is a certificate valid from ``starts_at`` to ``expires_at`` due for renewal at
    ``now``? When a third of its life is left, or 30 days, whichever comes first."""
    lifetime = expires_at - starts_at
    window = min(lifetime * RENEW_FRACTION, RENEW_AT_MOST)
    return now >= expires_at - window


def needs_issuing(status: str | None, *, retry_failing: bool) -> bool:
    """Should a domain of an ACM app without a (current) certificate be tried now?
    ``failing`` ones wait for the periodic check (or a refresh); ``failed`` ones for a
    refresh only."""
    if status in (None, PENDING):
        return True
    return status == FAILING and retry_failing


def scrub(text: str, secrets: list[str]) -> str:
    """A CA's message, without challenge tokens or key authorizations, and bounded."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."
