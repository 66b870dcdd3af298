"""A channel's ``default`` flag in the console: shown on the channels page, set by the
editor's checkbox, and kept when a default channel's other fields are edited."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

from services.console.views.channel_form import channel_from_form
from tests.unit.console.test_app import READER, FakeMesh, sign_in
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import resources_pb2 as notify_res


class FormFields(HTMLParser):
    """What a browser would submit from the form posting to ``action``, untouched."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.textarea: str | None = None
        self.fields: dict[str, list[str]] = {}
        self.checkboxes: dict[str, bool] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Collect successful controls of the one form."""
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif self.inside and tag == "input" and a.get("name"):
            if a.get("type") == "checkbox":
                self.checkboxes[a["name"]] = "checked" in a
                if "checked" not in a:
                    return
                a.setdefault("value", "on")
            self.fields.setdefault(a["name"], []).append(a.get("value", ""))
        elif self.inside and tag == "textarea":
            self.textarea = a.get("name", "")
            self.fields.setdefault(self.textarea, []).append("")

    def handle_data(self, data: str) -> None:
        """Text of a textarea."""
        if self.textarea is not None:
            self.fields[self.textarea][-1] += data

    def handle_endtag(self, tag: str) -> None:
        """Leave a textarea or the form."""
        if tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.inside = False


def parsed(html: str, action: str) -> FormFields:
    """The form posting to ``action`` in ``html``."""
    found = FormFields(action)
    found.feed(html)
    assert found.fields, f"no form posting to {action}"
    return found


def stored(*, default: bool) -> notify_res.Channel:
    """A stored webhook channel as GetChannel returns it."""
    return notify_res.Channel(
        id="c1",
        etag="e1",
        display_name="Ops hook",
        kind=notify_res.CHANNEL_KIND_WEBHOOK,
        webhook=notify_res.WebhookConfig(url="https://hooks.example/ops", has_signing_secret=True),
        default=default,
    )


def sent_update(mesh: FakeMesh) -> notify_api.UpdateChannelRequest:
    """The one UpdateChannel request the console made."""
    (sent,) = [r for _, m, r in mesh.calls if m == "UpdateChannel"]
    assert isinstance(sent, notify_api.UpdateChannelRequest)
    return sent


def test_the_checkbox_sets_default_and_names_it_in_the_mask() -> None:
    form = {"display_name": ["Ops"], "kind": ["webhook"], "url": ["https://h.example"]}
    ticked, paths, _ = channel_from_form({**form, "default": ["on"]})
    assert ticked.default and "default" in paths
    unticked, paths, _ = channel_from_form(form, base=stored(default=True))
    assert not unticked.default and "default" in paths


async def test_the_channels_page_marks_default_channels(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    await sign_in(client)
    mesh.answers["ListChannels"] = notify_api.ListChannelsResponse(
        channels=[
            notify_res.Channel(id="c1", display_name="Phone", default=True),
            notify_res.Channel(id="c2", display_name="Mail"),
        ]
    )
    page = await client.get("/notifications")
    assert page.status_code == 200
    phone, mail = page.text.split('id="ch-c1"')[1].split('id="ch-c2"')
    assert 'class="pill default"' in phone
    assert 'class="pill default"' not in mail
    assert "every enabled channel" not in page.text, "one is marked: no fallback note"


async def test_no_channel_marked_says_every_enabled_one_is_default(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    await sign_in(client)
    mesh.answers["ListChannels"] = notify_api.ListChannelsResponse(
        channels=[notify_res.Channel(id="c1", display_name="Phone")]
    )
    page = await client.get("/notifications")
    assert "every enabled channel" in page.text
    assert 'class="pill default"' not in page.text


async def test_creating_a_default_channel_sends_the_flag(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    csrf = await sign_in(client)
    new = await client.get("/notifications/channels/new")
    assert parsed(new.text, "/notifications/channels/new").checkboxes == {
        "disabled": False,
        "default": False,
    }
    mesh.answers["CreateChannel"] = notify_api.CreateChannelResponse(channel=stored(default=True))
    reply = await client.post(
        "/notifications/channels/new",
        data={
            "csrf_token": csrf,
            "display_name": "Ops hook",
            "kind": "webhook",
            "url": "https://hooks.example/ops",
            "signing_secret": "s3cret",
            "default": "on",
        },
    )
    assert reply.status_code == 303
    (sent,) = [r for _, m, r in mesh.calls if m == "CreateChannel"]
    assert isinstance(sent, notify_api.CreateChannelRequest)
    assert sent.channel.default


async def test_editing_another_field_of_a_default_channel_keeps_it_default(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    await sign_in(client)
    mesh.answers["GetChannel"] = notify_api.GetChannelResponse(channel=stored(default=True))
    mesh.answers["UpdateChannel"] = notify_api.UpdateChannelResponse(channel=stored(default=True))
    page = await client.get("/notifications/channels/c1")
    form = parsed(page.text, "/notifications/channels/c1")
    assert form.checkboxes["default"], "a default channel's box is ticked"
    fields = {**form.fields, "display_name": ["Ops hook (renamed)"]}
    reply = await client.post("/notifications/channels/c1", data=fields)
    assert reply.status_code == 303
    sent = sent_update(mesh)
    assert sent.channel.display_name == "Ops hook (renamed)"
    assert sent.channel.default, "renaming must not unmark the default channel"
    assert sent.channel.etag == "e1"


async def test_unticking_the_box_unmarks_the_channel(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    await sign_in(client)
    mesh.answers["GetChannel"] = notify_api.GetChannelResponse(channel=stored(default=True))
    mesh.answers["UpdateChannel"] = notify_api.UpdateChannelResponse(channel=stored(default=False))
    page = await client.get("/notifications/channels/c1")
    fields = parsed(page.text, "/notifications/channels/c1").fields
    del fields["default"]
    reply = await client.post("/notifications/channels/c1", data=fields)
    assert reply.status_code == 303
    sent = sent_update(mesh)
    assert not sent.channel.default and "default" in sent.update_mask.paths


async def test_a_rejected_save_keeps_the_box_as_ticked(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    csrf = await sign_in(client)
    reply = await client.post(
        "/notifications/channels/new",
        data={"csrf_token": csrf, "display_name": "x", "kind": "smtp", "port": "twenty-five"},
    )
    assert reply.status_code == 400
    assert parsed(reply.text, "/notifications/channels/new").checkboxes["default"] is False
    reply = await client.post(
        "/notifications/channels/new",
        data={"csrf_token": csrf, "kind": "smtp", "port": "x", "default": "on"},
    )
    assert reply.status_code == 400
    assert parsed(reply.text, "/notifications/channels/new").checkboxes["default"] is True


async def test_a_reader_sees_the_flag_but_cannot_save(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    await sign_in(client, READER)
    mesh.answers["GetChannel"] = notify_api.GetChannelResponse(channel=stored(default=True))
    page = await client.get("/notifications/channels/c1")
    assert page.status_code == 200
    assert parsed(page.text, "/notifications/channels/c1").checkboxes["default"]
    assert "Save channel" not in page.text
