"""The shared Keystone + Tempest fixtures (tests/_openstack), for the Tempest suites here."""

from tests._openstack.fixtures import (  # noqa: F401  (pytest finds fixtures by name)
    cowshed_cloud,
    keystone,
    openstack_venv,
    tempest_workspace,
)
