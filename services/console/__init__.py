"""The web console: a server-rendered face over the five services' gRPC APIs.

It owns no data: every page is built from API calls made with the signed-in user's own
token, so the services' tenant scoping and scopes apply to the console as to the CLI.
"""
