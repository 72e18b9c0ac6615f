"""What every service needs: settings, the repository and the stores."""

from __future__ import annotations

from dataclasses import dataclass

from cowshed.backends.file import FileBackend
from cowshed.config import Settings
from cowshed.db.repository import Repository
from cowshed.services.stores import StoreSet


@dataclass(frozen=True)
class Deps:
    settings: Settings
    repo: Repository
    stores: StoreSet
    #: where glance-direct stages data and imports keep their scratch files.
    staging: FileBackend
