"""What every service needs: settings, the repository, the stores and the policy."""

from __future__ import annotations

from dataclasses import dataclass, field

from cowshed.backends.file import FileBackend
from cowshed.config import Settings
from cowshed.db.repository import Repository
from cowshed.services.ownership import Ownership
from cowshed.services.policy import Policy, load_policy
from cowshed.services.pools import Pools
from cowshed.services.stores import StoreSet


@dataclass(frozen=True)
class Deps:
    settings: Settings
    repo: Repository
    stores: StoreSet
    #: where glance-direct stages data and imports keep their scratch files.
    staging: FileBackend
    #: this process's owner record and leases (services/ownership.py).
    owners: Ownership
    #: who may do what (the defaults unless ``policy_file`` overrides rules).
    policy: Policy = field(default_factory=lambda: load_policy(""))
    #: the process's thread pools (services/pools.py), shut down by ``Services.close``.
    pools: Pools = field(default_factory=Pools)
