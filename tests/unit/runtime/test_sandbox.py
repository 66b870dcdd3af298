"""The bounded template sandbox: loops, calls, values, output and time are capped per render."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError
from markupsafe import Markup

from triage.runtime.sandbox import TRUNCATED, BoundedEnvironment, Limits, render_bounded

ENV = BoundedEnvironment(limits=Limits(max_output_chars=5_000))
NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"


def render(source: str, env: BoundedEnvironment = ENV, **context: object) -> tuple[str, str | None]:
    result = render_bounded(env.from_string(source), context)
    return result.text, result.limited


def test_nested_range_loops_stop_at_the_step_budget_with_capped_output() -> None:
    text, limited = render(NESTED)
    assert limited is not None
    assert "loop iterations" in limited or "output longer" in limited
    assert text.startswith("x" * 100)
    assert text.endswith(TRUNCATED.format(reason=limited))
    assert len(text) <= 5_000 + len(TRUNCATED.format(reason=limited))


def test_silent_nested_loops_stop_at_the_step_budget() -> None:
    text, limited = render(NESTED.replace("x", "") + "after")
    assert limited == "more than 10000 loop iterations and calls"
    assert "after" not in text


def test_output_is_capped_at_the_limit() -> None:
    text, limited = render("{% for i in range(9000) %}ab{% endfor %}")
    assert limited == "output longer than 5000 characters"
    assert text.startswith("ab" * 2_500)


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{{ 'x'|center(1000000000) }}", "center"),
        ("{{ 'x'.center(1000000000) }}", "center"),
        ("{{ 'x'.zfill(1000000000) }}", "zfill"),
        ("{{ '%0999999999d' % 1 }}", "printf width"),
        ("{{ '{:>999999999}'.format(1) }}", "format width"),
        ("{{ ('x' * 10000)|replace('x', 'y' * 10000) }}", "replace"),
        ("{{ range(100000)|join('x' * 1000) }}", "join"),
        ("{{ ('x' * 10000).replace('x', 'y' * 10000) }}", "replace"),
        ("{{ 'a\nb'|indent(1000000000) }}", "indent"),
    ],
)
def test_amplifiers_are_refused_before_they_allocate(source: str, says: str) -> None:
    text, limited = render(source)
    assert limited is not None and says in limited
    assert len(text) < 200


def test_concatenation_cannot_double_past_the_value_cap() -> None:
    doublings = "{% set s = s ~ s %}" * 40
    text, limited = render("{% set s = 'x' * 1000 %}" + doublings + "{{ s|length }}")
    assert limited == "a value longer than 100000 characters"
    assert not text[:1].isdigit()


def test_exponential_macro_recursion_is_bounded() -> None:
    source = (
        "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    )
    assert render(source)[1] == "more than 10000 loop iterations and calls"


def test_captured_blocks_count_toward_the_caps() -> None:
    source = (
        "{% set s %}{% for i in range(5000) %}{{ 'y' * 9000 }}{% endfor %}{% endset %}"
        "{{ s|length }}"
    )
    text, limited = render(source)
    assert limited is not None
    assert not text[:1].isdigit()


def test_deadline_stops_a_render() -> None:
    env = BoundedEnvironment(limits=Limits(max_seconds=-1))
    assert render("{% for i in range(3) %}{{ i }}{% endfor %}", env)[1] == (
        "rendering took longer than -1000 ms"
    )


def test_unsafe_operations_are_still_refusals() -> None:
    with pytest.raises(SecurityError):
        render("{{ 'a' * 100000000 }}")
    with pytest.raises(SecurityError):
        render("{{ 9 ** 99999 }}")
    with pytest.raises(SecurityError):
        render("{{ (2 ** 64) ** 64 }}")
    with pytest.raises(SecurityError):
        render("{% set a = 2 ** 64 %}" + "{% set a = a * a %}" * 12 + "{{ a }}")


def test_ordinary_templates_render_unchanged() -> None:
    source = (
        "{% for k, v in labels|dictsort %}{{ k }}={{ v }}{{ ', ' if not loop.last }}{% endfor %}"
        " | {{ ['a', 'b']|join('-') }} {{ [1, 2]|sum }} {{ name ~ '!' }} {{ '%5s' % 'x' }}"
        " {{ '{:>4}'.format(7) }} {{ name|upper }} {% set ns = namespace(n=0) %}"
        "{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"
    )
    text, limited = render(source, labels={"b": "2", "a": "1"}, name="web")
    assert limited is None
    assert text == "a=1, b=2 | a-b 3 web!     x    7 WEB 3"


def test_autoescape_and_finalize_still_apply() -> None:
    env = BoundedEnvironment(autoescape=True, finalize=lambda v: "" if v is None else v)
    text, _ = render(
        "<b>{{ x ~ y }}</b>{{ nothing }}{{ safe }}",
        env,
        x="<i>",
        y="&",
        nothing=None,
        safe=Markup("<br>"),
    )
    assert text == "<b>&lt;i&gt;&amp;</b><br>"


def test_lipsum_is_not_offered() -> None:
    assert "lipsum" not in ENV.globals


def test_rendering_outside_render_bounded_is_refused() -> None:
    with pytest.raises(RuntimeError, match="render_bounded"):
        ENV.from_string("{% for i in range(2) %}{{ i }}{% endfor %}").render()
