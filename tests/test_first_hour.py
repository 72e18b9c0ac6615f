"""The first hour on a fresh clone: ``./run serve`` and the ``cowshed`` command agree.

``./run serve`` runs here from a copy of the script beside a stand-in ``.venv`` whose
``python`` only records how it is asked to install (so the test needs no network) and whose
``cowshed`` is the real one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.integration._server import COWSHED, free_port

ROOT = Path(__file__).resolve().parents[1]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("COWSHED_", "OS_"))}


def fake_clone(tmp_path: Path) -> tuple[Path, Path]:
    clone = tmp_path / "clone"
    bin_dir = clone / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("run", "pyproject.toml"):
        shutil.copy2(ROOT / name, clone / name)
    pip_log = tmp_path / "pip.log"
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\necho "$*" >> {pip_log}\n')
    python.chmod(0o755)
    (bin_dir / "cowshed").symlink_to(COWSHED)
    return clone, pip_log


def wait_ready(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if httpx.get(url + "/versions", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("./run serve did not answer")


def test_run_serve_installs_the_runtime_only_and_shares_the_cli_data_dir(tmp_path: Path) -> None:
    clone, pip_log = fake_clone(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(clone / "run"), "serve", "--port", str(port)], cwd=tmp_path,
                            env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_ready(proc, url)
        made = httpx.post(url + "/v2/images", json={"name": "first-hour", "disk_format": "raw",
                                                     "container_format": "bare"}).json()
        # the command, run where the README says, without options, sees the server's images
        listed = subprocess.run([str(COWSHED), "image", "list", "-f", "json"], cwd=clone,
                                env=clean_env(), capture_output=True, text=True, timeout=300,
                                check=True)
        assert [i["id"] for i in json.loads(listed.stdout)] == [made["id"]]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = [line for line in proc.stderr.read().splitlines() if line.startswith("run: ")]
    assert said == ["run: installing cowshed into .venv (once; takes a minute)",
                    f"run: starting: .venv/bin/cowshed serve --port {port}"]
    assert pip_log.read_text().splitlines() == ["-m pip install -q --upgrade pip",
                                                "-m pip install -q -e ."]
    assert (clone / "cowshed-data" / "cowshed.db").is_file()


def test_the_default_data_dir_is_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "/cowshed-data/" in ignored
