from __future__ import annotations

from collections.abc import Callable

import pytest

from services.notify.domain.model import ChannelKind, NotificationMessage
from services.notify.domain.templates import TemplateError, render, validate_overrides


def test_default_templates_render_every_kind(
    make_message: Callable[..., NotificationMessage],
) -> None:
    message = make_message()
    for kind in ChannelKind:
        rendered = render(kind, message)
        assert message.title in rendered.title
        assert message.body in rendered.text
        assert (rendered.html is not None) is (kind is ChannelKind.SMTP)
    smtp = render(ChannelKind.SMTP, message)
    assert smtp.title == "[HIGH] Disk C: almost full on ACME-DC01"
    assert "Ticket: T-1042" in smtp.text
    assert message.url is not None
    assert message.url in smtp.text


def test_html_escapes_values(make_message: Callable[..., NotificationMessage]) -> None:
    rendered = render(ChannelKind.SMTP, make_message(title="<script>x</script>"))
    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html


def test_slack_escapes_interpolated_values_but_keeps_template_markup(
    make_message: Callable[..., NotificationMessage],
) -> None:
    message = make_message(body="a < b & <!channel>")
    rendered = render(ChannelKind.SLACK, message, {"text": "*Alert*: {{ body }}"})
    assert rendered.text == "*Alert*: a &lt; b &amp; &lt;!channel&gt;"


def test_overrides_and_missing_values(make_message: Callable[..., NotificationMessage]) -> None:
    overrides = {"title": "{{ fields.Client }} / {{ fields.Nope }} / {{ priority }}"}
    rendered = render(ChannelKind.NTFY, make_message(priority=None), overrides)
    assert rendered.title == "Acme / /"


def test_title_is_one_line(make_message: Callable[..., NotificationMessage]) -> None:
    rendered = render(ChannelKind.SMTP, make_message(title="two\r\nlines"))
    assert rendered.title == "[HIGH] two lines"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ fields.update({'x': '1'}) }}",
        "{{ fields.clear() }}",
        "{{ 'a' * 100000000 }}",
        "{{ 9 ** 99999 }}",
        "{% for i in range(10000000) %}{% endfor %}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_sandbox_refuses_unsafe_templates(
    make_message: Callable[..., NotificationMessage], source: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        render(ChannelKind.NTFY, make_message(), {"text": source})
    assert caught.value.part == "text"
    assert caught.value.reason in ("template_forbidden", "template_render")


def test_private_attributes_render_as_nothing(
    make_message: Callable[..., NotificationMessage],
) -> None:
    rendered = render(ChannelKind.NTFY, make_message(), {"text": "[{{ fields.__class__ }}]"})
    assert rendered.text == "[]"


def test_syntax_error_is_reported_at_validation() -> None:
    with pytest.raises(TemplateError) as caught:
        validate_overrides(ChannelKind.SMTP, {"html": "{% if %}"})
    assert caught.value.reason == "template_syntax"
    assert caught.value.part == "html"
    assert "template 'html'" in str(caught.value)


def test_unknown_parts_are_refused() -> None:
    with pytest.raises(TemplateError):
        validate_overrides(ChannelKind.SLACK, {"html": "<b>x</b>"})
    with pytest.raises(TemplateError):
        validate_overrides(ChannelKind.SLACK, {"subject": "x"})


def test_runtime_error_is_a_clear_template_error(
    make_message: Callable[..., NotificationMessage],
) -> None:
    with pytest.raises(TemplateError) as caught:
        render(ChannelKind.NTFY, make_message(), {"title": "{{ 1 // 0 }}"})
    assert caught.value.reason == "template_render"
    assert "ZeroDivisionError" in caught.value.detail
