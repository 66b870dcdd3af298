"""One module per page; each exports ``ROUTES``."""
