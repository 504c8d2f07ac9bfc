"""`.env` parsing for `cove local`: `heroku local`'s rules, plus warnings for bad lines."""

from __future__ import annotations

from pathlib import Path

from cove.local.dotenv import load_env_files, parse_env


def values(text: str) -> dict[str, str]:
    return parse_env(text).values


def test_key_value_lines_are_trimmed_and_split_on_the_first_equals() -> None:
    assert values("A=1\n  B = two words  \nC=x=y==\n") == {
        "A": "1",
        "B": "two words",
        "C": "x=y==",
    }


def test_quoted_values_are_literal_up_to_the_closing_quote() -> None:
    text = (
        'D="a # not a comment"\nS=\'single $X \\n\'\nE=""\nT="kept" trailing ignored\nM=\'it"s\'\n'
    )
    assert values(text) == {
        "D": "a # not a comment",
        "S": "single $X \\n",  # no escapes, no expansion
        "E": "",
        "T": "kept",
        "M": 'it"s',
    }


def test_unquoted_values_end_at_the_first_hash() -> None:
    assert values("A=1 # comment\nURL=http://x/#frag\nB=#all comment\n") == {
        "A": "1",
        "URL": "http://x/",
        "B": "",
    }


def test_comments_blank_and_short_lines_are_ignored() -> None:
    text = "# comment\n   # indented comment\n\n   \nA=\nAB\nK=v\n"
    result = parse_env(text)
    assert result.values == {"K": "v"}
    assert result.warnings == []


def test_crlf_lines_and_export_prefix() -> None:
    assert values("A=1\r\nexport B=2\r\nexport   C='3'\n") == {"A": "1", "B": "2", "C": "3"}


def test_later_duplicates_win() -> None:
    assert values("A=1\nA=2\n") == {"A": "2"}


def test_bad_lines_are_skipped_with_a_warning_naming_the_line() -> None:
    text = "GOOD=1\nno equals here\n=value\nA B=1\nQ=\"unclosed\nR='also\n"
    result = parse_env(text, "dev.env")
    assert result.values == {"GOOD": "1"}
    assert len(result.warnings) == 5
    assert result.warnings[0].startswith("dev.env line 2 has no `=`")
    assert "line 3" in result.warnings[1] and "name" in result.warnings[1]
    assert "line 4" in result.warnings[2]
    assert "line 5" in result.warnings[3] and 'unclosed " quote' in result.warnings[3]
    assert "line 6" in result.warnings[4] and "unclosed ' quote" in result.warnings[4]


def test_a_json_object_is_flattened_and_upper_cased() -> None:
    result = parse_env(
        '{"db": {"url": "postgres://x", "pool": 5}, "debug": true, '
        '"ratio": 1.5, "whole": 2.0, "list": ["a", "b"], "none": null}'
    )
    assert result.format == "JSON"
    assert result.values == {
        "DB_URL": "postgres://x",
        "DB_POOL": "5",
        "DEBUG": "true",
        "RATIO": "1.5",
        "WHOLE": "2",
        "LIST_0": "a",
        "LIST_1": "b",
    }


def test_json_that_is_not_an_object_is_read_as_key_value_lines() -> None:
    result = parse_env("5")
    assert result.format == "KEY=VALUE" and result.values == {}


def test_files_are_merged_in_order_and_missing_ones_skipped(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=1\nB=1\n")
    (tmp_path / "more.env").write_text("B=2\n")
    (tmp_path / "dir.env").mkdir()
    env, notices, warnings = load_env_files(".env, missing.env,more.env,dir.env", tmp_path)
    assert env == {"A": "1", "B": "2"}
    assert notices == [
        "Loaded ENV .env File as KEY=VALUE Format",
        "Loaded ENV more.env File as KEY=VALUE Format",
    ]
    assert warnings == ["The env file dir.env is not a file, ignoring it."]


def test_no_env_file_is_no_error(tmp_path: Path) -> None:
    assert load_env_files(None, tmp_path) == ({}, [], [])
