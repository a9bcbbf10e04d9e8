"""Adapters at the edge: PostgreSQL, PSP connectors, the broker."""
