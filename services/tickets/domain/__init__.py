"""Pure ticket logic, no I/O, one module per subject: entities and their changes
(:mod:`.tickets`), the alert path's decisions (:mod:`.alerts`), alerts applied out of order
(:mod:`.order`)."""
