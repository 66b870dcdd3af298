"""Pure delivery logic of the notify service: values and decisions, no I/O."""
