"""A service error reaches the terminal whole, on one line, as a CliError did."""

from __future__ import annotations

from clirunner import invoke
from opsledger.cli.errors import INCOMPLETE, INVALID, REFUSED, exit_code_for, message_for
from opsledger.services.errors import Incomplete, InvalidRequest, Refused


def test_each_kind_has_its_exit_code_and_keeps_its_whole_message():
    for error, code in ((Refused("a\nb"), REFUSED), (InvalidRequest("a\nb"), INVALID),
                        (Incomplete("a\nb"), INCOMPLETE)):
        assert exit_code_for(error) == code
        assert message_for(error) == "a\nb"  # main() escapes the break, never cuts at it


def test_a_line_break_in_a_quoted_path_is_escaped_not_cut(tmp_path):
    result = invoke(["ledger", "verify", "--public-key", "/nonexistent/a\nb"],
                    {"OPSLEDGER_HOME": str(tmp_path / "home"), "OPSLEDGER_ACTOR": "t"})
    assert result.code == INVALID
    assert result.error_lines == [
        "opsledger: error: --public-key /nonexistent/a\\nb: No such file or directory"
    ]
