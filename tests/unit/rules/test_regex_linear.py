"""User regexes and globs run on RE2: no catastrophic backtracking, refusals named at save."""

from __future__ import annotations

import pytest

from services.rules.domain import Conditions, LabelMatcher, decide, validate_rule
from services.rules.domain.patterns import compile_globs, compile_regex
from tests.unit.rules.factories import T0, make_alert, make_rule, make_rules

EVIL = r"^(a+)+$"


def test_user_regex_is_compiled_by_re2() -> None:
    regex = compile_regex(EVIL, "p", [])
    assert regex is not None
    assert type(regex).__module__ == "re2"


def test_catastrophic_pattern_on_a_long_adversarial_message_is_decided() -> None:
    # Python's re needs ~2^n steps here (1 s at 24 characters); RE2 is linear in the text.
    rules = make_rules(make_rule(conditions=Conditions(message_regex=EVIL)))
    hostile = make_alert(message="a" * 100_000 + "!")
    assert decide(rules, [], hostile, T0).kind == "unmatched"
    assert decide(rules, [], make_alert(message="a" * 100_000), T0).kind == "routed"


def test_catastrophic_label_regex_on_a_long_value_is_decided() -> None:
    matcher = LabelMatcher("job", "=~", "(x+x+)+y")
    rules = make_rules(make_rule(conditions=Conditions(label_matchers=(matcher,))))
    alert = make_alert(labels={"job": "x" * 50_000})
    assert decide(rules, [], alert, T0).kind == "unmatched"


@pytest.mark.parametrize(
    ("conditions", "field"),
    [
        (Conditions(message_regex=r"(a)\1"), "conditions.message_regex"),
        (Conditions(message_regex=r"disk(?=full)"), "conditions.message_regex"),
        (
            Conditions(label_matchers=(LabelMatcher("job", "!~", r"(?<!x)y"),)),
            "conditions.label_matchers[0].value",
        ),
    ],
    ids=["backreference", "lookahead", "lookbehind"],
)
def test_pattern_re2_cannot_run_is_refused_with_a_clear_message(
    conditions: Conditions, field: str
) -> None:
    violations = validate_rule(make_rule(conditions=conditions))
    assert [v.field_path for v in violations] == [field]
    assert "RE2" in violations[0].message


@pytest.mark.parametrize(
    ("glob", "value", "matches"),
    [
        ("srv-*", "SRV-DC01", True),
        ("srv-*", "web-01", False),
        ("srv-??", "srv-01", True),
        ("srv-??", "srv-001", False),
        ("srv-[0-9]*", "srv-7x", True),
        ("srv-[!0-9]*", "srv-7x", False),
        ("a.b", "axb", False),
        ("[x", "[x", True),
        ("*a*a*a*a*a*b", "a" * 20_000, False),
    ],
)
def test_globs_keep_shell_meaning_on_re2(glob: str, value: str, matches: bool) -> None:
    regex = compile_globs((glob,), "device_globs", [])
    assert regex is not None
    assert (regex.fullmatch(value) is not None) is matches
