"""All SQL of the notify service, by aggregate; functions take a session and never commit."""
