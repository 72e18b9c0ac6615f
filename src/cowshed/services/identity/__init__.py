"""Identity: who a request comes from (authenticators), and cowshed's own Keystone-compatible
identity (users, projects, roles, tokens) for the ``standalone`` strategy."""
