"""Protobuf <-> domain for the rules service, the one place that knows both: rules, windows,
alerts and decisions, simulations, and the stored JSON (the API's JSON) the decoder reads."""
