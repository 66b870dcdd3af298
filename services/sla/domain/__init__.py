"""Pure SLA domain: business-hours calendars and per-target clocks (no I/O)."""
