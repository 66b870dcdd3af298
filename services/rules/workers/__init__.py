"""Background loops of the rules service, one module each."""
