"""Orchestration: the only layer that uses both the database and the backends."""
