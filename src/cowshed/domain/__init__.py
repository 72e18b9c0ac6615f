"""Pure records and rules: no I/O, no database, no backends."""
