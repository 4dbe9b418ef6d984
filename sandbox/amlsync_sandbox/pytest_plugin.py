"""Pytest fixtures that start the sandbox for a test (the fixtures land with the services)."""
