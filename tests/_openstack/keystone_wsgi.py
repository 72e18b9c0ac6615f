"""Serve Keystone's WSGI app with waitress. Runs inside the OpenStack venv, not cowshed's.

Run with ``python -I`` so that this directory (which has a keystone.py) is not on sys.path.

Usage: python keystone_wsgi.py CONFIG_FILE PORT
"""

import os
import sys


def main() -> None:
    config, port = sys.argv[1], int(sys.argv[2])
    # Keystone parses sys.argv with oslo.config: hand it the file through its environment variable
    sys.argv = sys.argv[:1]
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = config
    import waitress
    from keystone.server import wsgi

    app = wsgi.initialize_public_application()
    # One thread: oslo.db opens SQLite transactions with a plain (deferred) BEGIN, so two
    # requests that both read and then write deadlock on the lock upgrade and one fails at once
    # with "database is locked" (no busy timeout helps); Tempest's parallel workers did that.
    waitress.serve(app, host="127.0.0.1", port=port, threads=1, _quiet=True)


if __name__ == "__main__":
    main()
