"""The ``cowshed`` command: a thin shell over the library."""
