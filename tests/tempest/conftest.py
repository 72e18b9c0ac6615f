"""The shared Keystone + Tempest fixtures (tests/_openstack) are defined in tests/conftest.py,
so one Keystone serves every package of a session."""
