"""Log lines framed for drains: RFC 5424 with octet counting, as Logplex sends them."""

from __future__ import annotations

import re

import pytest

from cove.logs import frames

TIME = "2026-11-22T10:00:00.123456+00:00"
TOKEN = "d.8e5a3c1e-0000-4000-8000-000000000001"


def unframe(data: bytes) -> list[bytes]:
    """Split an octet-counted stream (RFC 6587 3.4.1) back into its messages."""
    messages = []
    while data:
        length, _, rest = data.partition(b" ")
        messages.append(rest[: int(length)])
        data = rest[int(length) :]
    return messages


def test_syslog_frame_has_the_token_as_hostname_and_nil_msgid_and_sd() -> None:
    frame = frames.syslog_frame(f"{TIME} app[web.1]: hello world", TOKEN)
    message = f"<190>1 {TIME} {TOKEN} app web.1 - - hello world\n".encode()
    assert frame == b"%d %s" % (len(message), message)


def test_http_frame_is_logplex_1_without_structured_data() -> None:
    frame = frames.http_frame(f'{TIME} heroku[router]: at=info method=GET path="/"')
    (message,) = unframe(frame)
    assert message == f'<158>1 {TIME} host heroku router - at=info method=GET path="/"\n'.encode()


def test_the_octet_count_is_the_message_in_bytes_with_its_newline() -> None:
    # Logplex's own example: 70 for a 69-character message (the count includes the "\n").
    frame = frames.http_frame("2012-07-22T00:06:26+00:00 erlang[console]: Hi from erlang")
    length, _, message = frame.partition(b" ")
    assert int(length) == len(message) == 70
    # Bytes, not characters: "é" and "✓" are 2 and 3 bytes in UTF-8.
    frame = frames.syslog_frame(f"{TIME} app[web.1]: café ✓", TOKEN)
    length, _, message = frame.partition(b" ")
    assert int(length) == len(message)
    assert len(message) == len(message.decode()) + 3


@pytest.mark.parametrize(
    ("line", "pri", "source", "dyno"),
    [
        (f"{TIME} app[web.1]: output", 190, "app", "web.1"),  # local7.info
        (f"{TIME} app[run.3]: output", 190, "app", "run.3"),
        (f"{TIME} app[api]: Release v2 created by user a@b.c", 45, "app", "api"),
        (f"{TIME} heroku[router]: at=info", 158, "heroku", "router"),  # local3.info
        (f"{TIME} heroku[web.1]: State changed from starting to up", 40, "heroku", "web.1"),
        (f"{TIME} heroku[logplex]: Error L10 (output buffer overflow)", 172, "heroku", "logplex"),
    ],
)
def test_each_source_keeps_its_app_name_procid_and_priority(
    line: str, pri: int, source: str, dyno: str
) -> None:
    (message,) = unframe(frames.syslog_frame(line, TOKEN))
    assert message.startswith(f"<{pri}>1 {TIME} {TOKEN} {source} {dyno} - - ".encode())
    (message,) = unframe(frames.http_frame(line))
    assert message.startswith(f"<{pri}>1 {TIME} host {source} {dyno} - ".encode())


def test_the_l10_line_reads_as_heroku_shows_it_on_a_drain() -> None:
    line = (
        f"{TIME} heroku[logplex]: Error L10 (output buffer overflow): 5 messages dropped since x."
    )
    (message,) = unframe(frames.syslog_frame(line, TOKEN))
    assert message.decode().endswith(
        f"{TOKEN} heroku logplex - - Error L10 (output buffer overflow): "
        "5 messages dropped since x.\n"
    )


def test_a_message_keeps_its_colons_and_an_empty_message_is_framed() -> None:
    (message,) = unframe(frames.http_frame(f"{TIME} app[web.1]: key: value: more"))
    assert message.endswith(b"web.1 - key: value: more\n")
    (message,) = unframe(frames.http_frame(f"{TIME} app[web.1]: "))
    assert message == f"<190>1 {TIME} host app web.1 - \n".encode()


def test_a_line_not_in_heroku_format_goes_whole_as_app_output() -> None:
    (message,) = unframe(frames.syslog_frame("no prefix here", TOKEN))
    assert re.fullmatch(
        rf"<190>1 \d{{4}}-\d\d-\d\dT[\d:.]+\+00:00 {TOKEN} app - - - no prefix here\n",
        message.decode(),
    )


def test_a_source_without_a_dyno_gets_a_nil_procid() -> None:
    (message,) = unframe(frames.http_frame(f"{TIME} heroku: platform note"))
    assert message == f"<40>1 {TIME} host heroku - - platform note\n".encode()
