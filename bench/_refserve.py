"""Bare reference servers: the ceilings that ``bench/images.py`` compares cowshed with.

Run as ``python bench/_refserve.py upload PORT DIR`` or ``python bench/_refserve.py sendfile
PORT FILE``; the process prints ``ready`` once it listens and serves one connection at a time
until it is killed.

* ``upload``: reads the HTTP request body (Content-Length) into 8 MiB blocks with
  ``recv_into``; each block is hashed with md5 and sha512 in two threads and written to a file
  in a third while the next block is received; then fsync and answer 204. This is the least
  work that does what cowshed's upload promises (both hashes, durable bytes). ``DELETE``
  removes the file, outside the timed request, as the benchmark deletes cowshed's images.
* ``sendfile``: answers any request with 200 and the whole file through ``os.sendfile``
  (4 MiB per call).

Neither parses HTTP beyond what curl sends; they are yardsticks, not servers.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

BLOCK = 8 << 20
#: sendfile in bounded pieces: one call for the whole file measured slower on loopback.
SEND = 4 << 20


def _listen(port: int) -> socket.socket:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(8)
    print("ready", flush=True)
    return srv


def _read_head(conn: socket.socket) -> tuple[str, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            raise ConnectionError("client closed before the headers ended")
        data += more
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0].split(" ")[0], headers, rest


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view):]


def _receive(conn: socket.socket, headers: dict[str, str], rest: bytes, directory: Path,
             pool: ThreadPoolExecutor) -> None:
    remaining = int(headers.get("content-length", "0"))
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha512()
    path = directory / "upload.part"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    buffers = [bytearray(BLOCK), bytearray(BLOCK)]
    inflight: list[Future[object]] = []
    which = 0
    try:
        while remaining > 0:
            buf = memoryview(buffers[which])
            filled = 0
            if rest:
                filled = len(rest)
                buf[:filled] = rest
                rest = b""
            want = min(BLOCK, remaining)
            while filled < want:
                n = conn.recv_into(buf[filled:want])
                if n == 0:
                    raise ConnectionError("client closed mid-body")
                filled += n
            for done in inflight:
                done.result()
            block = buf[:filled]
            inflight = [pool.submit(md5.update, block), pool.submit(sha.update, block),
                        pool.submit(_write_all, fd, block)]
            remaining -= filled
            which ^= 1
        for done in inflight:
            done.result()
        os.fsync(fd)
    finally:
        os.close(fd)
    digests = f"X-Checksum: {md5.hexdigest()}\r\nX-Hash: {sha.hexdigest()}\r\n"
    conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n" + digests.encode()
                 + b"\r\n")


def _delete(conn: socket.socket, directory: Path) -> None:
    (directory / "upload.part").unlink(missing_ok=True)
    conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")


def _send(conn: socket.socket, path: Path) -> None:
    size = path.stat().st_size
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n" % size)
    with path.open("rb") as fh:
        offset = 0
        while offset < size:
            offset += os.sendfile(conn.fileno(), fh.fileno(), offset, min(SEND, size - offset))


def main(argv: list[str]) -> None:
    mode, port, target = argv[1], int(argv[2]), Path(argv[3])
    srv = _listen(port)
    pool = ThreadPoolExecutor(max_workers=3)
    while True:
        conn, _ = srv.accept()
        with conn:
            method, headers, rest = _read_head(conn)
            if mode == "sendfile":
                _send(conn, target)
            elif method == "DELETE":
                _delete(conn, target)
            else:
                _receive(conn, headers, rest, target, pool)


if __name__ == "__main__":
    main(sys.argv)
