"""All SQL of the rules service, one module per aggregate; every function takes the caller's
session and none commits. Rows come back as the domain's frozen records."""
