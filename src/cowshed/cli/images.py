"""``cowshed image …`` placeholder; filled in below."""

from __future__ import annotations

import click


@click.group()
def image() -> None:
    """Manage images directly through the library (no HTTP)."""
