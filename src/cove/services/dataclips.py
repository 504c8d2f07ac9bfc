"""Dataclips: SQL run against a Postgres add-on from the dashboard, and saved queries.

A query runs with the add-on's own credentials (never the cluster's admin), in a
``READ ONLY`` transaction with a statement timeout, as one statement (``DECLARE ... CURSOR
FOR`` the query, sent with the extended protocol, which takes a single statement: no
``; COMMIT; ...`` can follow it), and its rows are fetched in batches up to a row cap and
a byte cap, so neither a long nor a wide result is held in memory whole.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import select

from cove.addons import PostgresProvider
from cove.domain.errors import CoveError, InvalidParams, NotFound
from cove.store import AddOn, App, Store
from cove.store.models import Dataclip

STATEMENT_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT_S = 10
MAX_SQL_CHARS = 10_000
MAX_TITLE_CHARS = 120
SHOWN_ROWS = 1_000  # rows shown on a page
CSV_ROWS = 10_000  # rows in a CSV download
MAX_RESULT_BYTES = 8 * 1024 * 1024  # the text of all cells fetched, at most
MAX_CELL_CHARS = 10_000  # a longer value is cut (and says so)
_BATCH = 200
MAX_RUNNING = 4  # queries at once on this server; one more is refused, not queued
_running = threading.BoundedSemaphore(MAX_RUNNING)


class QueryFailed(CoveError):
    """Postgres refused or stopped the query: its own message (no credentials in it)."""

    id = "invalid_params"


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[list[str | None]]
    truncated: bool  # more rows (or bytes) than the cap: only the first are here


def check_sql(query: str) -> str:
    """The query as it will run (trailing ``;`` and blanks removed), or why not."""
    query = query.replace("\r\n", "\n").strip().rstrip(";").rstrip()
    if not query:
        raise InvalidParams("Write a query first, e.g. SELECT 1 AS n.")
    if len(query) > MAX_SQL_CHARS:
        raise InvalidParams(f"The query is longer than {MAX_SQL_CHARS:,} characters.")
    if "\x00" in query:
        raise InvalidParams("The query contains a NUL character.")
    return query


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        text = "\\x" + bytes(value).hex()
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime | date | time):
        text = value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    elif isinstance(value, Decimal | int | float | str):
        text = str(value)
    else:  # arrays, json, ranges...: Python's rendering of what psycopg loaded
        text = str(value)
    if len(text) > MAX_CELL_CHARS:
        return text[:MAX_CELL_CHARS] + "… (cut)"
    return text


def run(resource: dict[str, Any], query: str, max_rows: int | None = None) -> Result:
    """Run ``query`` read-only as the add-on's own role; at most ``max_rows`` rows
    (``SHOWN_ROWS`` unless given)."""
    query = check_sql(query)
    max_rows = SHOWN_ROWS if max_rows is None else max_rows
    if not _running.acquire(blocking=False):
        raise QueryFailed("Too many dataclips are running on this server. Try again shortly.")
    try:
        return _run(resource, query, max_rows)
    finally:
        _running.release()


def _run(resource: dict[str, Any], query: str, max_rows: int) -> Result:
    try:
        conn = psycopg.connect(
            PostgresProvider.url(resource),
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="cove-dataclip",
        )
    except psycopg.Error:
        # The connection error names the role and host: say less.
        raise QueryFailed("Couldn't connect to the database. Try again in a moment.") from None
    try:
        with conn:
            conn.execute("BEGIN TRANSACTION READ ONLY")
            conn.execute(
                sql.SQL("SET LOCAL statement_timeout = {}").format(
                    sql.Literal(STATEMENT_TIMEOUT_MS)
                )
            )
            cursor = f"dataclip_{uuid.uuid4().hex}"
            with conn.cursor() as cur:
                # prepare=True: the extended protocol, one statement only.
                cur.execute(
                    f"DECLARE {cursor} NO SCROLL CURSOR FOR {query}",
                    prepare=True,
                )
                return _fetch(cur, cursor, max_rows)
    except psycopg.errors.QueryCanceled:
        raise QueryFailed(
            f"The query was cancelled after {STATEMENT_TIMEOUT_MS / 1000:g} seconds "
            "(the statement timeout)."
        ) from None
    except psycopg.errors.ReadOnlySqlTransaction:
        raise QueryFailed(READ_ONLY) from None
    except psycopg.Error as exc:
        if _not_a_query(exc, query):
            raise QueryFailed(READ_ONLY) from None
        raise QueryFailed(_message(exc)) from None
    finally:
        conn.close()


READ_ONLY = (
    "Dataclips are read-only: they run one query (SELECT, WITH ... SELECT, VALUES or "
    "TABLE), which can't change the database. Make changes with cove pg:psql."
)


# Statements other than queries: the cursor refuses them with a syntax error at their
# first word, which the user is better told as "read-only".
_STATEMENT_WORDS = (
    "insert update delete merge create drop alter truncate grant revoke copy call do set "
    "reset show explain vacuum analyze begin start commit rollback end savepoint release "
    "lock prepare execute deallocate discard listen notify unlisten comment cluster "
    "reindex refresh security import load checkpoint"
)
_STATEMENTS = frozenset(_STATEMENT_WORDS.split())


def _not_a_query(exc: psycopg.Error, query: str) -> bool:
    """An INSERT, UPDATE, DDL...: the cursor takes a query only, with no data-modifying
    WITH."""
    if isinstance(exc, psycopg.errors.FeatureNotSupported):
        return "data-modifying" in (exc.diag.message_primary or "")
    if isinstance(exc, psycopg.errors.SyntaxError) and exc.diag.statement_position:
        first = query.split(None, 1)[0].lower() if query.split() else ""
        at_start = int(exc.diag.statement_position) == _PREFIX_CHARS + 1
        return at_start and first in _STATEMENTS
    return False


_PREFIX_CHARS = len("DECLARE dataclip_") + 32 + len(" NO SCROLL CURSOR FOR ")


def _fetch(cur: psycopg.Cursor[Any], cursor: str, max_rows: int) -> Result:
    rows: list[list[str | None]] = []
    columns: list[str] = []
    size = 0
    fetch = sql.SQL("FETCH FORWARD {} FROM {}")
    while len(rows) <= max_rows:
        want = min(_BATCH, max_rows + 1 - len(rows))
        cur.execute(fetch.format(sql.Literal(want), sql.Identifier(cursor)))
        if not columns and cur.description:
            columns = [c.name for c in cur.description]
        batch = cur.fetchall()
        for record in batch:
            line = [_text(v) for v in record]
            size += sum(len(v) for v in line if v is not None)
            rows.append(line)
            if size > MAX_RESULT_BYTES:
                return Result(columns, rows[:max_rows], True)
        if len(batch) < want:
            break
    return Result(columns, rows[:max_rows], len(rows) > max_rows)


def _message(exc: psycopg.Error) -> str:
    """Postgres's message with its detail, hint and position, as psql prints them."""
    diag = exc.diag
    if not diag.message_primary:
        return "The query failed."
    parts = [f"{diag.severity or 'ERROR'}: {diag.message_primary}"]
    if diag.message_detail:
        parts.append(f"DETAIL: {diag.message_detail}")
    if diag.message_hint:
        parts.append(f"HINT: {diag.message_hint}")
    if diag.statement_position:
        # Its position counts from our DECLARE prefix: say where in the user's query.
        where = int(diag.statement_position) - _PREFIX_CHARS
        if where > 0:
            parts.append(f"at character {where}")
    return "\n".join(parts)


# -- saved queries ---------------------------------------------------------------------------
def save(store: Store, app: App, addon: AddOn, title: str, query: str, creator_id: str) -> Dataclip:
    title = " ".join(title.split())
    if not title:
        raise InvalidParams("Give the dataclip a title.")
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidParams(f"The title is longer than {MAX_TITLE_CHARS} characters.")
    query = check_sql(query)
    with store.session() as s:
        clip = Dataclip(
            app_id=app.id, addon_id=addon.id, creator_id=creator_id, title=title, sql=query
        )
        s.add(clip)
        s.flush()
        store.emit(s, "dataclip.created", app.id, dataclip_id=clip.id, addon=addon.name)
        return clip


def get(store: Store, clip_id: str) -> Dataclip:
    """A dataclip by id (the caller checks that the visitor may see its app)."""
    with store.session() as s:
        clip = s.get(Dataclip, clip_id[:36])
        if clip is None:
            raise NotFound("Couldn't find that dataclip.")
        return clip


def of_addon(store: Store, addon_id: str) -> list[Dataclip]:
    with store.session() as s:
        return list(
            s.scalars(
                select(Dataclip)
                .where(Dataclip.addon_id == addon_id)
                .order_by(Dataclip.created_at.desc())
                .limit(100)
            )
        )


def delete(store: Store, clip: Dataclip) -> None:
    with store.session() as s:
        row = s.get(Dataclip, clip.id)
        if row is not None:
            s.delete(row)
            store.emit(s, "dataclip.destroyed", clip.app_id, dataclip_id=clip.id)
