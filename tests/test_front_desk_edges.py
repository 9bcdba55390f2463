"""Rough edges a newcomer found at the front desk: numbers on the command line, a store git
cannot write to, where `--output` wrote, a due time in the past, and user names typed in
another case. Each through the CLI, on a store in tmp_path, with the clock pinned."""

from __future__ import annotations

from tests.conftest import Cli

# --- 1. numeric options: syntax exits 2, a broken rule exits 1, in our words ------------


def test_a_limit_that_is_no_number_is_syntax_and_one_below_one_is_refused(cli: Cli) -> None:
    cli.add()
    for text in ("abc", "1.5", "", "ten"):
        err = cli.refused("queue", "--limit", text, code=2)
        assert err == "Error: --limit takes a whole number, for example --limit 10.\n", text
    for text in ("0", "-1"):
        err = cli.refused("queue", "--limit", text, code=1)
        assert err == "Error: --limit must be 1 or more, for example --limit 10.\n", text
    cli.refused("queue", "--json", "--limit=0", code=1)
    assert "Input should" not in cli("queue", "--limit", "x").stderr
    assert len(cli.ok("queue", "--limit", " 1 ", "--json").stdout.strip()) > 2
