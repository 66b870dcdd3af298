"""Use cases of the notify service; each opens one transaction and builds no protos."""
