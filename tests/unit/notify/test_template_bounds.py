"""Channel templates render within bounds: a template cannot stall or fail the consumer."""

from __future__ import annotations

from collections.abc import Callable

from services.notify.domain.model import ChannelKind, NotificationMessage
from services.notify.domain.templates import MAX_OUTPUT_CHARS, render

NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"


def test_nested_range_template_renders_capped_and_marked(
    make_message: Callable[..., NotificationMessage],
) -> None:
    rendered = render(ChannelKind.NTFY, make_message(), {"text": NESTED})
    assert rendered.text.startswith("x" * 1000)
    assert "[truncated: " in rendered.text
    assert len(rendered.text) <= MAX_OUTPUT_CHARS + 200


def test_silent_nested_loops_in_a_title_give_a_marked_title(
    make_message: Callable[..., NotificationMessage],
) -> None:
    source = NESTED.replace("x", "")
    rendered = render(ChannelKind.SLACK, make_message(), {"title": "T" + source})
    assert rendered.title == "T… [truncated: more than 10000 loop iterations and calls]"


def test_oversized_output_is_truncated_not_an_error(
    make_message: Callable[..., NotificationMessage],
) -> None:
    rendered = render(
        ChannelKind.WEBHOOK, make_message(), {"text": "{{ 'y' * 90000 }}{{ 'z' * 90000 }}"}
    )
    assert rendered.text.startswith("y" * 90_000 + "z")
    assert rendered.text.endswith("[truncated: output longer than 100000 characters]")


def test_amplifying_filter_is_cut_before_it_allocates(
    make_message: Callable[..., NotificationMessage],
) -> None:
    rendered = render(ChannelKind.NTFY, make_message(), {"text": "{{ body|center(10**9) }}"})
    assert rendered.text.startswith("… [truncated: filter 'center'")
