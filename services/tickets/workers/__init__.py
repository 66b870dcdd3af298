"""Background loops of the tickets service, one module each."""
