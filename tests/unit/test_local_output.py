"""`cove local`'s line prefixes and line splitting."""

from __future__ import annotations

import re

from cove.local.output import LineSplitter, Printer


def test_prefix_is_time_and_padded_name_without_colour_off_a_terminal() -> None:
    printer = Printer(["web.1", "web.2", "worker.1"], color=False)
    assert re.fullmatch(r"\d\d:\d\d:\d\d web\.1    \| hi", printer.line("web.1", "hi"))
    assert re.fullmatch(r"\d\d:\d\d:\d\d worker\.1 \| hi", printer.line("worker.1", "hi"))


def test_each_process_gets_its_own_colour_in_turn() -> None:
    names = [f"web.{i}" for i in range(1, 8)]
    printer = Printer(names, color=True)
    codes = [printer.prefix(name)[:5] for name in names]
    assert codes[:6] == ["\x1b[35m", "\x1b[34m", "\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[31m"]
    assert codes[6] == codes[0]
    assert printer.prefix("web.1").endswith(" | \x1b[0m")


def test_lines_are_split_across_chunks_and_blank_lines_dropped() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\r\ntw") == ["one"]
    assert splitter.pending
    assert splitter.feed(b"o\n\n   \nthree") == ["two"]
    assert splitter.flush() == ["three"]
    assert not splitter.pending and splitter.flush() == []


def test_an_endless_line_is_cut_into_bounded_pieces() -> None:
    splitter = LineSplitter(limit=4)
    assert splitter.feed(b"abcdefghij") == ["abcd", "efgh"]
    assert splitter.flush() == ["ij"]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert LineSplitter().feed(b"caf\xe9\n") == ["caf\ufffd"]
