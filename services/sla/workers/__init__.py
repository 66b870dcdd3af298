"""Background loops of the sla service, one module each."""
