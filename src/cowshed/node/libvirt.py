"""The few libvirt calls the node makes, through ``virsh`` (no libvirt-python in the venv).

* **live copy** (Nova's ``_live_snapshot``): ``virsh blockcopy DOM DEV DEST --shallow
  --reuse-external --wait --finish`` is ``virDomainBlockRebase(COPY | REUSE_EXT | SHALLOW)``,
  waiting for the job to be ready, then ``virDomainBlockJobAbort`` without pivot: the domain
  stays on its disk and DEST holds a point-in-time copy of the top layer;
* **secrets** for encrypted disks: defined ``ephemeral='yes' private='yes'`` (libvirt keeps the
  value in memory only, never on disk), the value passed on stdin, never in argv.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from cowshed.errors import ExternalToolError, NotFound
from cowshed.node import tools

#: seconds a block copy may take (the copy runs inside QEMU while the guest keeps going).
COPY_TIMEOUT = 1800.0


class Virsh:
    def __init__(self, uri: str) -> None:
        self.uri = uri

    def _run(self, *args: str, what: str, stdin: bytes | None = None,
             timeout: float = 120.0) -> str:
        return tools.run(["virsh", "-q", "-c", self.uri, *args], what=what, stdin=stdin,
                         timeout=timeout, package="libvirt-clients")

    def domain_exists(self, domain: str) -> bool:
        try:
            self._run("domstate", domain, what=f"looking up domain {domain}")
        except ExternalToolError:
            return False
        return True

    def block_copy(self, domain: str, device: str, dest: Path, *, shallow: bool,
                   reuse_external: bool, dest_format: str | None = None) -> None:
        """Copy ``device`` of the running ``domain`` into ``dest`` and stop without pivot."""
        if not self.domain_exists(domain):
            raise NotFound(f"libvirt domain {domain!r} is not running on {self.uri}")
        args = ["blockcopy", domain, device, str(dest), "--wait", "--finish", "--verbose"]
        if shallow:
            args.append("--shallow")
        if reuse_external:
            args.append("--reuse-external")
        if dest_format:
            args += ["--format", dest_format]
        self._run(*args, what=f"live copy of {domain}/{device}", timeout=COPY_TIMEOUT)

    def define_secret(self, secret_uuid: str, usage: str, value: bytes) -> None:
        """Define (or redefine) a private, ephemeral secret and set its value."""
        xml = (f"<secret ephemeral='yes' private='yes'><uuid>{escape(secret_uuid)}</uuid>"
               f"<usage type='volume'><volume>{escape(usage)}</volume></usage></secret>")
        with tempfile.NamedTemporaryFile("w", suffix=".xml") as fh:
            fh.write(xml)  # the secret's description only: no value in this file
            fh.flush()
            self._run("secret-define", fh.name, what=f"defining secret {secret_uuid}")
        self._run("secret-set-value", "--secret", secret_uuid, "--file", "/dev/stdin",
                  "--plain", what=f"setting secret {secret_uuid}", stdin=value)

    def has_secret(self, secret_uuid: str) -> bool:
        try:
            self._run("secret-dumpxml", secret_uuid, what=f"looking up secret {secret_uuid}")
        except ExternalToolError:
            return False
        return True

    def undefine_secret(self, secret_uuid: str) -> None:
        try:
            self._run("secret-undefine", secret_uuid, what=f"undefining secret {secret_uuid}")
        except ExternalToolError:
            return  # already gone (or libvirt down): nothing to keep secret any more
