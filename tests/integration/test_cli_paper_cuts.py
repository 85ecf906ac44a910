"""Paper cuts of issue 15, each as the user met it: what they typed, what they
now see. One story per cut."""

from __future__ import annotations

from clirunner import invoke


def ol(env, *argv: str):
    return invoke(list(argv), env)


# --- help ---------------------------------------------------------------------------------


def test_a_newcomer_types_opsledger_alone_and_reads_its_help(cli_env):
    for argv in ([], ["ticket"], ["roster"]):
        r = ol(cli_env, *argv)
        assert r.code in (0, 2), argv  # click's choice for a group called without a command
        assert "\\n" not in r.out + r.err, argv
        text = r.out + r.err
        assert text.startswith("Usage: opsledger"), argv
        assert "Commands:" in text.splitlines(), argv
        assert "error" not in text.splitlines()[0], argv


def test_ticket_help_gives_each_summary_whole(cli_env):
    r = ol(cli_env, "ticket", "--help")
    assert r.code == 0
    line = next(x for x in r.out.splitlines() if x.strip().startswith("open "))
    assert "(e.g." not in line
    assert "Open change ticket KEY, such as CHG-2041, for a live session." in line
