"""All SQL of the tickets service, one module per aggregate; callers own the transaction
(nothing here commits) and rows come back as frozen dataclasses."""
