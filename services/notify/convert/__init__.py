"""Protobuf <-> domain for the notify service: the one place that knows both."""
