"""Log lines framed as Logplex sends them to drains: RFC 5424 messages with RFC 6587
octet counting (``<length> <message>``, the length counting the message's final newline).

Syslog drains (TCP, TLS) get ``<PRI>1 TIME d.<token> SOURCE DYNO - - MESSAGE``: the
drain's token in the hostname field, nil MSGID and STRUCTURED-DATA. HTTP(S) drains get
Logplex's ``application/logplex-1`` body: ``<PRI>1 TIME host SOURCE DYNO - MESSAGE``
(the literal hostname ``host``, no STRUCTURED-DATA), the token going in a header.
"""

from __future__ import annotations

from dataclasses import dataclass

from cove.domain.logline import timestamp

# PRI = facility * 8 + severity, as Heroku's drains show them.
APP_PRI = 190  # local7.info: what an app's dynos write
API_PRI = 45  # syslog.notice: app[api] audit lines
ROUTER_PRI = 158  # local3.info: heroku[router]
HEROKU_PRI = 40  # heroku[web.1] and the platform's other lines (Logplex's own examples)
LOGPLEX_PRI = 172  # local5.warning: Logplex's notices about itself (L10, L14)

CONTENT_TYPE = "application/logplex-1"


@dataclass(frozen=True)
class Entry:
    time: str
    source: str  # app | heroku
    dyno: str  # web.1, router, api; "" when the line names none
    message: str

    @property
    def pri(self) -> int:
        if self.source == "heroku":
            return {"router": ROUTER_PRI, "logplex": LOGPLEX_PRI}.get(self.dyno, HEROKU_PRI)
        return API_PRI if self.dyno == "api" else APP_PRI


def parse(line: str) -> Entry:
    """A Heroku-format line (``TIME source[dyno]: message``) back into its fields."""
    time, _, rest = line.partition(" ")
    prefix, sep, message = rest.partition(": ")
    if not sep or " " in prefix:  # not one of ours: pass it on whole, as app output
        return Entry(timestamp(), "app", "", line)
    source, _, dyno = prefix.partition("[")
    return Entry(time, source, dyno.removesuffix("]"), message)


def _frame(message: str) -> bytes:
    data = message.encode(errors="replace")
    return b"%d %s" % (len(data), data)


def syslog_frame(line: str, token: str) -> bytes:
    e = parse(line)
    return _frame(f"<{e.pri}>1 {e.time} {token} {e.source} {e.dyno or '-'} - - {e.message}\n")


def http_frame(line: str) -> bytes:
    e = parse(line)
    return _frame(f"<{e.pri}>1 {e.time} host {e.source} {e.dyno or '-'} - {e.message}\n")
