"""``cowshed serve``: lock the data dir, bind the port, recover, then serve — in that order.

The order protects other processes' work: start-up recovery rewrites what a crash left behind,
so it must run only once this process owns the data dir (the lock) and can actually serve (the
port). A server refused at either step has touched nothing. Every start-up failure is one
``Error:`` line naming the fix (the ``CowshedGroup`` border prints it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

import click

from cowshed import logs
from cowshed.cli.common import deployment_options, settings_for
from cowshed.config import AUTH_STRATEGIES, Settings
from cowshed.errors import ConfigError
from cowshed.services.app import open_services
from cowshed.services.datadir import DataDirLock, this_process
from cowshed.services.identity.auth import check_listen

log = logging.getLogger("cowshed.serve")

#: exit status after SIGTERM, as a shell reports a process ended by it (128 + 15).
EXIT_SIGTERM = 143


@click.command()
@deployment_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9292, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (Glance's is 9292; 0 picks a free one).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]),
              help="Least severe log messages to print.")
@click.option("--auth-strategy", type=click.Choice(AUTH_STRATEGIES), default=None,
              help="Who may call the APIs (overrides the auth_strategy setting): noauth, "
                   "standalone or keystone. See docs/identity.md.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes sharing the port, the data dir and the database "
                   "(docs/operations.md).")
def serve(data_dir: Path | None, config_file: Path | None, host: str, port: int,
          log_level: str, auth_strategy: str | None, workers: int) -> None:
    """Run the Image API v2 server.

    Refuses to start (one line, nothing touched) when another live server uses the data dir
    or the port is taken. Ctrl-C stops it (exit status 130).

    \b
    Examples:
      cowshed serve                                  # ./cowshed-data on 127.0.0.1:9292
      cowshed serve --data-dir /var/lib/cowshed --port 9393
    """
    logs.configure(log_level)
    if log_level != "debug":  # each start's "Context impl SQLiteImpl" lines say nothing
        logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = settings_for(data_dir, config_file)
    logs.configure(log_level, settings.log_format)
    if auth_strategy is not None:
        settings = dataclasses.replace(settings, auth_strategy=auth_strategy)
    with contextlib.ExitStack() as stack:
        lock = None
        if settings.data_dir_lock:
            lock = stack.enter_context(DataDirLock.acquire(
                settings.data_dir, this_process("cowshed serve", host, port)))
        sock = bind(host, port)
        stack.callback(sock.close)
        bound = sock.getsockname()[1]
        if lock is not None:
            lock.describe(this_process("cowshed serve", host, bound))
        if workers > 1:
            _supervise(settings, sock, host, bound, log_level, workers)
        else:
            _serve(stack, settings, sock, host, bound, log_level)


def _supervise(settings: Settings, sock: socket.socket, host: str, port: int, log_level: str,
               workers: int) -> None:
    """The parent of ``--workers N`` (cli/workers.py): recover once, then fork the workers."""
    from cowshed.cli.workers import Supervisor

    services = open_services(settings)
    try:
        services.recover()
    finally:
        services.close()
    check_listen(settings, host)
    log.info("starting %d workers", workers)

    def serve_one() -> None:
        with contextlib.ExitStack() as stack:
            _serve(stack, settings, sock, host, port, log_level, first=False)

    sys.exit(Supervisor(workers, serve_one).run())


def _serve(stack: contextlib.ExitStack, settings: Settings, sock: socket.socket, host: str,
           port: int, log_level: str, *, first: bool = True) -> None:
    """Serve in this process; ``first`` (not a forked worker): recover and check first."""
    import uvicorn

    from cowshed.api.app import create_app
    from cowshed.api.http_protocols import MAX_HEAD_BYTES, LimitedHttpToolsProtocol

    services = open_services(settings)
    stack.callback(services.close)
    if first:
        services.recover()
        # last: any earlier refusal prints its one line without this check's noauth banner
        check_listen(settings, host)
    # where the standalone bootstrap's openrc points when public_endpoint is not set
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    local = f"[{local}]" if ":" in local else local
    app = create_app(settings, services, recover=False, listen_url=f"http://{local}:{port}")
    # httptools and uvloop (uvicorn[standard]) named outright: "auto" would fall back to the
    # pure-Python h11 parser and asyncio loop without a word when they are missing. The
    # protocol is uvicorn's httptools one with a bound on request heads (431 past 64 KiB).
    # log_config=None: uvicorn's loggers go through cowshed.logs (text or JSON, request ids);
    # timeout_graceful_shutdown: after SIGTERM, requests get shutdown_grace seconds to finish,
    # then they are cancelled and undo themselves (an upload aborts its writer, requeues).
    config = uvicorn.Config(app, log_level=log_level, access_log=False,
                            http=LimitedHttpToolsProtocol, loop="uvloop", timeout_keep_alive=75,
                            log_config=None, timeout_graceful_shutdown=settings.shutdown_grace,
                            h11_max_incomplete_event_size=MAX_HEAD_BYTES)
    # uvicorn restores this handler after its graceful shutdown and re-raises SIGTERM into it:
    # SystemExit then unwinds the stack (services closed, lock released) instead of the
    # default action killing the process mid-way.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    log.info("serving the Image API on http://%s:%d (data dir %s, pid %d); Ctrl-C stops",
             _url_host(host), port, settings.data_dir, os.getpid())
    uvicorn.Server(config).run(sockets=[sock])


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    sys.exit(EXIT_SIGTERM)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (as uvicorn would bind it), or one-line ConfigError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host!r}: {exc.strerror}; pass --host with an "
                          f"address of this machine, e.g. 127.0.0.1") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(_bind_error(host, port, exc)) from exc
    return sock


def _bind_error(host: str, port: int, exc: OSError) -> str:
    where = f"{_url_host(host)}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is in use; pass another --port, or stop " \
               f"what listens there"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied (ports below 1024 need root); " \
               f"pass --port 9292"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: not an address of this machine; pass --host " \
               f"127.0.0.1 or 0.0.0.0"
    return f"cannot listen on {where}: {exc.strerror or exc}"
