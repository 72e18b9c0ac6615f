"""The configured stores (named backend instances), chosen by name, default or weight."""

from __future__ import annotations

from collections.abc import Iterator

from cowshed.backends.base import Backend
from cowshed.backends.registry import load_backend
from cowshed.config import Settings, StoreSettings
from cowshed.errors import InvalidRequest


class StoreSet:
    """Every store of a deployment, built once at start-up."""

    def __init__(self, settings: Settings) -> None:
        self.multistore = settings.multistore
        self.default_name = settings.default_backend
        self._settings = {s.name: s for s in settings.effective_stores()}
        self._backends: dict[str, Backend] = {}
        try:
            for spec in self._settings.values():
                self._backends[spec.name] = load_backend(spec.type, spec.name, spec.options)
        except BaseException:
            self.close()
            raise

    def get(self, name: str | None) -> Backend:
        """The store called ``name`` (None: the default); InvalidRequest if unknown."""
        key = self.default_name if name is None else name
        try:
            return self._backends[key]
        except KeyError:
            raise InvalidRequest(f"Store {key} is not available on this node") from None

    def spec(self, name: str) -> StoreSettings:
        return self._settings[name]

    @property
    def default(self) -> Backend:
        return self._backends[self.default_name]

    def __iter__(self) -> Iterator[Backend]:
        return iter(self._backends.values())

    def names(self) -> list[str]:
        return list(self._backends)

    def by_weight(self, names: list[str]) -> list[str]:
        """``names`` ordered best first: higher weight, then the default store, then config order."""
        order = list(self._backends)
        return sorted(
            (n for n in names if n in self._backends),
            key=lambda n: (-self._settings[n].weight, n != self.default_name, order.index(n)),
        )

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
