"""Fake external systems for tests: in-process HTTP apps that speak real APIs."""
