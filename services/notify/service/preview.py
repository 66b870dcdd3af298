"""Message previews: a sample event rendered through a channel's templates. Read-only."""

from __future__ import annotations

import json
from collections.abc import Mapping

from services.notify.clients.chat import slack_payload, teams_payload
from services.notify.clients.webhook import webhook_body
from services.notify.domain.model import ChannelKind, NotificationMessage
from services.notify.domain.preview import Preview
from services.notify.domain.sending import template_overrides
from services.notify.domain.templates import Rendered, TemplateError, render
from services.notify.service.channels import find_channel
from services.notify.service.common import spec_of
from triage.runtime import Database, FieldViolation, InvalidArgument, SecretBox

_JSON = "application/json"


def _payload(
    kind: ChannelKind, message: NotificationMessage, rendered: Rendered
) -> tuple[str, str]:
    """What the kind's sender would send, as text, and its media type."""
    if kind is ChannelKind.WEBHOOK:
        return json.dumps(webhook_body(message), indent=2, ensure_ascii=False), _JSON
    if kind is ChannelKind.SLACK:
        return json.dumps(slack_payload(message, rendered), indent=2, ensure_ascii=False), _JSON
    if kind is ChannelKind.TEAMS:
        return json.dumps(teams_payload(message, rendered), indent=2, ensure_ascii=False), _JSON
    if kind is ChannelKind.SMTP and rendered.html:
        return rendered.html, "text/html"
    return rendered.text, "text/plain"


class Previews:
    """Renders sample messages for the tenant's channels (or a kind alone)."""

    def __init__(self, *, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box

    async def preview(
        self,
        *,
        tenant_id: str,
        channel_id: str,
        kind: ChannelKind | None,
        template: Mapping[str, str],
        message: NotificationMessage,
    ) -> Preview:
        """``message`` rendered with the channel's (or ``kind``'s default) templates, the
        non-empty parts of ``template`` over them; NOT_FOUND for another tenant's channel."""
        overrides: dict[str, str] = {}
        if channel_id:
            async with self.db.transaction(tenant_id) as session:
                row = await find_channel(session, tenant_id, channel_id)
            spec = spec_of(self.box, row)
            kind = spec.kind
            overrides = {k: v for k, v in template_overrides(spec.template).items() if v}
        if kind is None:
            raise InvalidArgument.field("channel_id", "name a channel or a kind")
        overrides.update({k: v for k, v in template.items() if v})
        try:
            rendered = render(kind, message, overrides)
        except TemplateError as exc:
            part = "subject_template" if exc.part == "title" else "body_template"
            raise InvalidArgument(
                "template does not render",
                violations=[FieldViolation(f"template.{part}", exc.detail)],
            ) from exc
        payload, content_type = _payload(kind, message, rendered)
        return Preview(rendered.title, rendered.text, rendered.html or "", payload, content_type)
