"""The compiled triage matcher kept in the user's cache folder (cbtrack/rulecache.py): made
once, read back by the next command, and never trusted when damaged or writable by others."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from cbtrack import matcher, rulecache
from tests.conftest import Cli

BLUE = "his lips and fingertips look a little blue"


def _urgency(cli: Cli, reason: str) -> str:
    cid = cli.add(category="general", reason=reason)
    return str(cli.record(cid)["urgency"])


def _kept(cache: Path) -> list[Path]:
    return sorted((cache / "cbtrack").glob("matcher-*.pickle"))


def test_the_matcher_is_compiled_once_and_kept_owner_only(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(rulecache, "_MEMO", {})
    assert _urgency(cli, BLUE) == "emergency"
    [kept] = _kept(cache)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((cache / "cbtrack").stat().st_mode) == 0o700
    # The next command reads it back instead of compiling the rules again.
    monkeypatch.setattr(rulecache, "_MEMO", {})
    compiled: list[int] = []
    real = matcher.Matcher.__init__

    def counting(self: matcher.Matcher, concepts: Any, rules: Any, spelling: Any) -> None:
        if rules and len(rules) > 1:  # (not a check of one practice rule)
            compiled.append(1)
        real(self, concepts, rules, spelling)

    monkeypatch.setattr(matcher.Matcher, "__init__", counting)
    assert _urgency(cli, BLUE) == "emergency"
    assert not compiled


@pytest.mark.parametrize("harm", ["damaged", "group_writable", "symlink"])
def test_a_damaged_or_untrusted_cache_is_compiled_again(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, harm: str
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(rulecache, "_MEMO", {})
    _urgency(cli, "question about parking")
    [kept] = _kept(cache)
    if harm == "damaged":
        kept.write_bytes(b"\x80\x05not a pickle")
    elif harm == "group_writable":
        os.chmod(kept, 0o620)
    else:
        elsewhere = tmp_path / "elsewhere.pickle"
        elsewhere.write_bytes(kept.read_bytes())
        kept.unlink()
        kept.symlink_to(elsewhere)
    monkeypatch.setattr(rulecache, "_MEMO", {})
    assert _urgency(cli, BLUE) == "emergency"
    if harm == "damaged":
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.stat().st_size > 1000


def test_a_practice_rule_makes_a_new_compiled_matcher(
    cli: Cli, store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(rulecache, "_MEMO", {})
    assert _urgency(cli, "the wasp sting is swelling up") != "emergency"
    policy = store_dir / "cbtrack.yaml"
    text = policy.read_text()
    assert "  rules: []" in text
    rule = (
        "  rules:\n    - {name: wasp_sting_swelling, patterns: ['wasp sting ..3 swell*'],"
        " urgency: emergency, route_to: clinical}"
    )
    policy.write_text(text.replace("  rules: []", rule, 1))
    cli.ok("validate", "--commit")
    assert _urgency(cli, "the wasp sting is swelling up") == "emergency"
    assert len(_kept(cache)) == 2


def test_the_built_in_rules_are_kept_parsed(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The built-in rules file is parsed and validated once; later commands read the kept
    result instead (no YAML is parsed for it), and triage answers the same."""
    from cbtrack import packaged, policy

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(rulecache, "_MEMO", {})
    policy.builtin_triage.cache_clear()
    try:
        assert _urgency(cli, BLUE) == "emergency"
        [kept] = sorted((cache / "cbtrack").glob("builtin-*.pickle"))
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        monkeypatch.setattr(rulecache, "_MEMO", {})
        policy.builtin_triage.cache_clear()
        real = packaged.load

        def no_triage_yaml(name: str) -> Any:
            assert name != "triage.yaml", "the built-in rules were parsed again"
            return real(name)

        monkeypatch.setattr(packaged, "load", no_triage_yaml)
        assert _urgency(cli, BLUE) == "emergency"
        assert _urgency(cli, "question about parking") != "emergency"
    finally:
        policy.builtin_triage.cache_clear()


def _policies(cache: Path) -> list[Path]:
    return sorted((cache / "cbtrack").glob("policy-*.pickle"))


def test_the_checked_policy_is_kept_and_an_edit_is_checked_again(
    cli: Cli, store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cbtrack.yaml is validated once per text: later commands read the kept result (no
    validation), an edit is validated again, and a policy with a problem is refused as
    before and never kept."""
    from cbtrack import yamlio
    from cbtrack.policy import Policy

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    cli.ok("queue")
    [kept] = _policies(cache)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    checked: list[str] = []
    real = yamlio.parse_model

    def counting(model: Any, text: str, rel: str) -> Any:
        if model is Policy:
            checked.append(rel)
        return real(model, text, rel)

    monkeypatch.setattr(yamlio, "parse_model", counting)
    assert _urgency(cli, BLUE) == "emergency"
    cli.ok("queue", "--all")
    assert not checked

    policy = store_dir / "cbtrack.yaml"
    text = policy.read_text()
    policy.write_text(text.replace("  rules: []", "  rules: [}", 1))
    assert "cbtrack.yaml" in cli.refused("queue", "--all", code=3) and checked
    assert len(_policies(cache)) == 1
    policy.write_text(text + "\n# a comment\n")
    checked.clear()
    cli.ok("queue", "--all")
    assert checked and len(_policies(cache)) == 2
    # a damaged kept policy is checked again, and kept anew
    for path in _policies(cache):
        path.write_bytes(b"\x80\x05not a pickle")
    checked.clear()
    cli.ok("queue", "--all")
    assert checked


def test_a_kept_matcher_reads_every_text_as_the_compiled_one() -> None:
    """The kept matcher holds its word groups packed and unpacks each on first use: it
    must find exactly what the matcher compiled from the rules finds."""
    import pickle

    import yaml

    from cbtrack import typos
    from cbtrack.policy import Policy, builtin_triage

    policy = Policy.default()
    spelling, concepts, _ = builtin_triage()
    rules = [r.spec() for r in policy.triage_rules]
    compiled = matcher.Matcher(
        {k: list(v) for k, v in concepts.items()}, rules, spelling, typos.builtin()
    )
    kept = pickle.loads(pickle.dumps(compiled, protocol=pickle.HIGHEST_PROTOCOL))
    here = Path(__file__).parent / "triage"
    texts = [
        str(c["text"])
        for name in ("corpus.yaml", "corpus2.yaml")
        for c in yaml.safe_load((here / name).read_text())["cases"]
    ][::3]
    assert len(texts) > 300

    def found(m: matcher.Matcher, text: str) -> list[tuple[str, bool, str]]:
        return [(x.rule, x.negated, x.evidence) for x in m.match([text])]

    assert [found(kept, t) for t in texts] == [found(compiled, t) for t in texts]
    # only the patterns the texts could reach were made
    made = sum(len(m) for m in kept._made.values()) + sum(map(len, kept.concepts.values()))
    assert 0 < made < sum(map(len, compiled.concepts.values())) / 2
