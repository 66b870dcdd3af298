"""Background loops of the notify service, one module each (deliveries, retention)."""
