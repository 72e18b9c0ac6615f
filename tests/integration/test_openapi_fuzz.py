"""schemathesis against a real ``cowshed serve``, driven by the packaged OpenAPI description.

Every operation of the Image API (src/cowshed/api/image/openapi.yaml) gets generated requests,
valid and invalid, and a stateful run follows the description's links (create an image, then
upload, stage, import, patch, tag, share, delete it…). Each answer must be no 5xx, a status
code the description lists for that operation, a Content-Type it lists, and a body and headers
that match its schema; the server's log must hold no traceback at the end. At least
MIN_REQUESTS requests are sent. Generation is derandomized so CI sends the same requests each
run (the server's background imports still make some answers timing-dependent; the description
lists every answer they can give).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    ensure_resource_availability,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from tests.integration import _openapi_hooks  # noqa: F401  (registers the PATCH serializer)
from tests.integration._server import Server

pytestmark = pytest.mark.slow
SPEC = Path(str(files("cowshed.api.image").joinpath("openapi.yaml")))
#: (not negative_data_rejection: it counts a 413 for an over-long body as "accepted")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
ST = Path(sys.executable).with_name("st")
ROOT = Path(__file__).resolve().parents[2]
#: requests the whole module must send (the issue asks for at least 2,000).
MIN_REQUESTS = 2000
#: per operation (35 of them) in the parametrized run; the stateful run adds its steps.
PER_OPERATION = 45
SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=PER_OPERATION,
                    suppress_health_check=list(HealthCheck))
SENT = {"requests": 0}


schema = schemathesis.openapi.from_path(SPEC)


#: two file stores and every optional field shown, so the multistore operations (store
#: info, delete from one store, X-Image-Meta-Store) and the optional image fields are reached
#: too; the single-store answers (404 for store info) are checked in tests/api/test_openapi.py.
CONFIG = """
default_backend = "fast"
show_image_direct_url = true
show_multiple_locations = true

[stores.fast]
type = "file"
weight = 5
description = "fast"
filesystem_store_datadir = "{root}/fast"

[stores.slow]
type = "file"
filesystem_store_datadir = "{root}/slow"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("openapi-fuzz")
    config = root / "cowshed.toml"
    config.write_text(CONFIG.format(root=root))
    srv = Server(root / "data", config)
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


@schema.parametrize()
@SETTINGS
def test_every_operation_answers_as_described(case: schemathesis.Case, server: Server) -> None:
    SENT["requests"] += 1
    case.call_and_validate(base_url=server.url, checks=CHECKS, timeout=60)


def test_linked_operations_answer_as_described(server: Server, tmp_path: Path) -> None:
    """The stateful run: sequences of calls joined by the description's links, run by
    schemathesis' own engine (``st run --phases stateful``), which copes with answers that
    change what can be generated next (hypothesis alone calls that a flaky strategy)."""
    cmd = [str(ST), "run", str(SPEC), "--url", server.url, "--phases", "stateful",
           "--checks", ",".join(c.__name__ for c in [*CHECKS, use_after_free,
                                                     ensure_resource_availability]),
           "--header", "Accept: application/json", "--workers", "1", "--max-examples", "80",
           "--seed", "20261206", "--generation-deterministic", "--no-color"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.integration._openapi_hooks",
           "PYTHONPATH": str(ROOT)}
    # run from a scratch directory: st keeps a cache (.schemathesis/) where it runs
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    generated = re.search(r"(\d+) generated", done.stdout)
    assert generated is not None, done.stdout[-5000:]
    SENT["requests"] += int(generated[1])


def test_sent_enough_requests_and_logged_no_error(server: Server) -> None:
    """Runs after the two above (module order): the volume and the server's own view."""
    print(f"schemathesis sent {SENT['requests']} requests")  # shown with -s
    assert SENT["requests"] >= MIN_REQUESTS, SENT
    assert server.alive()
    assert server.unexpected_errors() == []
