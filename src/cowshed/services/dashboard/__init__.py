"""What the dashboard reads through the library rather than the public APIs."""

from cowshed.services.dashboard.stores import StoreUsage, store_usage

__all__ = ["StoreUsage", "store_usage"]
