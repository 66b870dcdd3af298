"""``triage channels create|update --default/--no-default`` set the channel's flag."""

from __future__ import annotations

import pytest

from triage.cli.channels import _channel_from_args
from triage.cli.main import build_parser


@pytest.mark.parametrize(("flag", "expected"), [("--default", True), ("--no-default", False)])
def test_update_names_default_in_the_mask_only_when_given(flag: str, expected: bool) -> None:
    args = build_parser().parse_args(["channels", "update", "c1", flag])
    channel, paths = _channel_from_args(args, "webhook")
    assert paths == ["default"]
    assert channel.default is expected


def test_without_the_flag_default_is_left_alone() -> None:
    args = build_parser().parse_args(["channels", "update", "c1", "--disabled"])
    _, paths = _channel_from_args(args, "webhook")
    assert "default" not in paths


def test_create_marks_a_default_channel() -> None:
    argv = ["channels", "create", "--kind", "webhook", "--name", "eng", "--default"]
    channel, _ = _channel_from_args(build_parser().parse_args(argv), "webhook")
    assert channel.default
