"""web-download SSRF, amplification and slow senders (red-team findings on web-download).

"Secret" listeners sit on 127.0.0.1, 127.0.0.2 and ::1 (one port); the operator disallowed
loopback. Every other spelling of those addresses, every DNS answer pointing there and every
redirect hop leading there must fail without one request reaching a secret listener.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from cowshed.config import Settings
from cowshed.services.images import webdownload
from tests.api._hostile_source import HostileServer
from tests.api._import_fixtures import Api, running_api

#: every way to write "the loopback listener" that a string filter lets through ({p}: port);
#: \u3002, \uff0e and \uff61 are the ideographic, full-width and half-width full stops,
#: \uff10-\uff19 and \uff41-\uff5a full-width digits and letters
LOOPBACK_FORMS = [
    "http://[::ffff:127.0.0.1]:{p}/ok/10",
    "http://[::FFFF:7f00:1]:{p}/ok/10",
    "http://[0::1]:{p}/ok/10",
    "http://[0:0:0:0:0:0:0:1]:{p}/ok/10",
    "http://[::1]:{p}/ok/10",
    "http://[::]:{p}/ok/10",
    "http://[::ffff:0.0.0.0]:{p}/ok/10",
    "http://0.0.0.0:{p}/ok/10",
    "http://127\u30020\u30020\u30021:{p}/ok/10",
    "http://127\uff0e0\uff0e0\uff0e1:{p}/ok/10",
    "http://127\uff610\uff610\uff611:{p}/ok/10",
    "http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11:{p}/ok/10",
    "http://127.0.0.1.:{p}/ok/10",
    "http://%31%32%37.0.0.1:{p}/ok/10",
    "http://[::127.0.0.1]:{p}/ok/10",
    "http://2130706433:{p}/ok/10",
    "http://0x7f000001:{p}/ok/10",
    "http://017700000001:{p}/ok/10",
    "http://0177.0.0.01:{p}/ok/10",
    "http://127.1:{p}/ok/10",
    "http://localhost:{p}/ok/10",
    "http://LocalHost.:{p}/ok/10",
    "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:{p}/ok/10",
    "http://user@127.0.0.1:{p}/ok/10",
]
#: other loopback addresses: reach the same host, refused when a loopback address is
OTHER_LOOPBACK = ["http://127.0.0.2:{p}/ok/10", "http://[::ffff:127.0.0.2]:{p}/ok/10",
                  "http://a.localhost:{p}/ok/10"]


@pytest.fixture(scope="module")
def secrets() -> Iterator[list[HostileServer]]:
    with HostileServer("127.0.0.1") as first, HostileServer("::1", first.port) as v6, \
            HostileServer("127.0.0.2", first.port) as second:
        yield [first, v6, second]


@pytest.fixture(scope="module")
def redirector() -> Iterator[HostileServer]:
    with HostileServer("127.0.0.3") as server:
        yield server


def _contacted(secrets: list[HostileServer]) -> list[str]:
    return [path for s in secrets for path in s.requests]


def _settings(tmp: Path, ports: tuple[int, ...], disallowed: tuple[str, ...],
              **extra: Any) -> Settings:
    return Settings(data_dir=tmp, allowed_ports=ports, disallowed_hosts=disallowed, **extra)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, secrets: list[HostileServer],
          redirector: HostileServer) -> Iterator[Api]:
    """Loopback disallowed the way an operator writes it: 127.0.0.1 and ::1."""
    settings = _settings(tmp_path_factory.mktemp("ssrf-plain"),
                         (secrets[0].port, redirector.port), ("127.0.0.1", "::1"))
    with running_api(settings) as api:
        yield api


@pytest.fixture(scope="module")
def exact(tmp_path_factory: pytest.TempPathFactory, secrets: list[HostileServer],
          redirector: HostileServer) -> Iterator[Api]:
    """Exactly the secret addresses disallowed, so that the redirector (127.0.0.3) is allowed."""
    settings = _settings(tmp_path_factory.mktemp("ssrf-exact"),
                         (secrets[0].port, redirector.port),
                         ("127.0.0.1/32", "::1/128", "127.0.0.2/32"))
    with running_api(settings) as api:
        yield api


def _web_download(api: Api, uri: str) -> tuple[str, str]:
    """("refused", message) for a 400 at POST time, else (task status, task message)."""
    image_id = api.create(disk_format="raw", container_format="bare")["id"]
    r = api.import_(image_id, {"method": {"name": "web-download", "uri": uri}})
    if r.status_code == 400:
        return "refused", str(r.json()["message"])
    assert r.status_code == 202, r.text
    task = api.wait_task(image_id)
    if task["status"] == "failure":
        assert api.show(image_id)["status"] == "queued"
        assert api.leftovers(image_id) == []
    return str(task["status"]), str(task["message"])


def test_no_spelling_of_loopback_reaches_a_disallowed_listener(
    plain: Api, secrets: list[HostileServer]
) -> None:
    reached = {}
    for form in LOOPBACK_FORMS + OTHER_LOOPBACK:
        uri = form.format(p=secrets[0].port)
        outcome, message = _web_download(plain, uri)
        if outcome not in ("refused", "failure") or _contacted(secrets):
            reached[uri] = (outcome, message, _contacted(secrets))
            for s in secrets:
                s.requests.clear()
    assert not reached, reached


def test_no_redirect_hop_reaches_a_disallowed_listener(
    exact: Api, secrets: list[HostileServer], redirector: HostileServer
) -> None:
    reached = {}
    for i, form in enumerate(LOOPBACK_FORMS):
        target = form.format(p=secrets[0].port)
        hop = f"http://127.0.0.3:{redirector.port}/redirect?to={quote(target, safe='')}"
        two = f"http://127.0.0.3:{redirector.port}/redirect?to={quote(hop, safe='')}"
        for uri in (hop, two) if i % 4 == 0 else (hop,):  # two hops for every fourth form
            outcome, message = _web_download(exact, uri)
            explained = "refused" in message or "resolve" in message
            if outcome != "failure" or _contacted(secrets) or not explained:
                reached[uri] = (outcome, message, _contacted(secrets))
                for s in secrets:
                    s.requests.clear()
    assert not reached, reached
    assert "/redirect" in redirector.requests  # the allowed first hop was fetched


def test_the_allowed_source_still_works(exact: Api, redirector: HostileServer) -> None:
    """The control: the same setup fetches from an allowed address, directly and by redirect."""
    direct = f"http://127.0.0.3:{redirector.port}/ok/4096"
    assert _web_download(exact, direct) == ("success", "")
    hop = f"http://127.0.0.3:{redirector.port}/redirect?to={quote(direct, safe='')}"
    assert _web_download(exact, hop) == ("success", "")


def _fake_dns(answers: dict[str, list[list[str]]], calls: list[str]) -> Any:
    """A resolver answering from ``answers`` (one list per call, the last one repeating)."""
    def resolve(host: str, port: int) -> list[Any]:
        calls.append(host)
        seen = answers[host]
        current = seen[min(calls.count(host), len(seen)) - 1]
        return [ipaddress.ip_address(a) for a in current]
    return resolve


def test_dns_answers_pointing_at_loopback_are_refused_at_connect_time(
    exact: Api, secrets: list[HostileServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    answers = {
        "evil.test": [["127.0.0.1"]],
        "evil6.test": [["::1"]],
        "mapped.test": [["::ffff:127.0.0.2"]],
        "mixed.test": [["127.0.0.9", "127.0.0.1"]],
        # DNS rebinding: an allowed (and unreachable) address first, loopback afterwards
        "flip.test": [["127.0.0.9"], ["127.0.0.1"]],
    }
    monkeypatch.setattr(webdownload, "resolve", _fake_dns(answers, calls))
    port = secrets[0].port
    for name in answers:
        outcome, message = _web_download(exact, f"http://{name}:{port}/ok/10")
        assert outcome == "failure", (name, message)
        assert _contacted(secrets) == [], (name, message)
    assert calls.count("flip.test") == 1  # resolved once, and that answer was connected to


@pytest.fixture(scope="module")
def source() -> Iterator[HostileServer]:
    with HostileServer("127.0.0.1") as server:
        yield server


@pytest.fixture(scope="module")
def lenient(tmp_path_factory: pytest.TempPathFactory, source: HostileServer) -> Iterator[Api]:
    """Loopback allowed (the source lives there), default transfer limits."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("wd-plain"), allowed_ports=(source.port,))
    with running_api(settings) as api:
        yield api


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, source: HostileServer) -> Iterator[Api]:
    """Loopback allowed (the source lives there) with short transfer limits."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("wd-limits"),
                        allowed_ports=(source.port,), web_download_rate_window=1,
                        web_download_min_rate=1000, web_download_deadline=3)
    with running_api(settings) as api:
        yield api


@pytest.mark.parametrize("route", [
    f"encoded/gzip/{16 << 20}", f"encoded/deflate/{16 << 20}", f"encoded/raw-deflate/{16 << 20}",
    "encoded/br/100", "labelled/100?ce=gzip,%20identity", "labelled/100?ce=identity,%20gzip",
    "labelled/100?ce=x-gzip", "labelled/100?ce=compress", "labelled/100?ce=GZIP",
])
def test_encoded_bodies_are_refused_not_decoded(lenient: Api, source: HostileServer,
                                                route: str) -> None:
    """1.8 KB of gzip on the wire once became a 1 GiB image: the body is never decoded."""
    outcome, message = _web_download(lenient, f"http://127.0.0.1:{source.port}/{route}")
    assert outcome == "failure" and "Content-Encoding" in message, message


def test_identity_encoding_is_accepted(lenient: Api, source: HostileServer) -> None:
    uri = f"http://127.0.0.1:{source.port}/labelled/100?ce=identity"
    assert _web_download(lenient, uri) == ("success", "")


def test_transfer_encoding_gzip_is_refused(lenient: Api, source: HostileServer) -> None:
    outcome, message = _web_download(lenient,
                                     f"http://127.0.0.1:{source.port}/te-gzip/{1 << 20}")
    assert outcome == "failure", message


@pytest.mark.parametrize(("route", "fragment"), [
    ("trickle/100000?every=0.2", "slower than the minimum rate"),
    ("slow-headers?every=0.2", "slower than the minimum rate"),
    ("stall", "slower than the minimum rate"),
])
def test_slow_senders_fail_within_the_rate_window(strict: Api, source: HostileServer,
                                                  route: str, fragment: str) -> None:
    outcome, message = _web_download(strict, f"http://127.0.0.1:{source.port}/{route}")
    assert outcome == "failure" and fragment in message, message


def test_a_sender_fast_enough_but_endless_hits_the_deadline(
    tmp_path: Path, source: HostileServer
) -> None:
    settings = Settings(data_dir=tmp_path, allowed_ports=(source.port,),
                        web_download_rate_window=1, web_download_min_rate=1,
                        web_download_deadline=2)
    with running_api(settings) as api:
        outcome, message = _web_download(
            api, f"http://127.0.0.1:{source.port}/trickle/100000?every=0.05")
    assert outcome == "failure" and "deadline of 2 s" in message, message
