"""The Identity API v3 (Keystone-compatible subset) of the standalone strategy."""
