"""Pieces of the delivery worker: the send pool and the breaker's recovery release."""
