"""cowshed: the storage half of a VM cloud."""

__version__ = "0.1.0"
