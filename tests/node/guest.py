"""Booting real guests under libvirt for the node tests (facts in shared/reference/guest-boot.md).

* **Daemons**: ``virtlogd`` and ``libvirtd`` are started by hand when no libvirtd answers (PID 1
  is not systemd here) and stopped at the end only if this session started them (by PID).
* **Guest**: a Debian cloud kernel (``apt-get download``, cached) and an initramfs built here in
  Python (newc cpio): busybox-static, the six virtio modules and an ``/init`` that writes or
  reads a marker at a byte offset of ``/dev/vda`` and prints ``BT-RESULT:`` lines on the serial
  console. No bootable disk is needed: direct kernel boot, TCG (KVM does not work here).
* **Domains** are transient (``virsh create``) with exactly the ``<disk>`` elements that
  ``cowshed node disk-xml`` printed, serial console to a file, ACPI on (``poweroff -f`` must end
  the domain) and ``destroy`` on poweroff/reboot/crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import io
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

VIRSH_URI = "qemu:///system"
MODULES = ("virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
           "virtio_pci", "virtio_blk")
MARKER_OFFSET = 1 << 20
BOOT_TIMEOUT = 240.0

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin; export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
  insmod /lib/modules/$m.ko 2>/dev/null; done
MODE=read; MARKER=; OFF=1048576; HOLD=0
for a in $(cat /proc/cmdline); do case "$a" in
  bt.mode=*) MODE=${a#bt.mode=};; bt.marker=*) MARKER=${a#bt.marker=};;
  bt.off=*) OFF=${a#bt.off=};; bt.hold=*) HOLD=${a#bt.hold=};; esac; done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -b /dev/vda ] || { echo "BT-RESULT: ERROR no /dev/vda"; poweroff -f; }
if [ "$MODE" = write ]; then
  printf '%s' "$MARKER" | dd of=/dev/vda bs=1 seek=$OFF conv=notrunc,fsync 2>/dev/null; sync
  echo "BT-RESULT: WROTE $MARKER"
fi
LEN=${#MARKER}; [ $LEN -gt 0 ] || LEN=32
echo "BT-RESULT: READ $(dd if=/dev/vda bs=1 skip=$OFF count=$LEN 2>/dev/null | tr -c 'A-Za-z0-9_.:-' '?')"
if [ "$HOLD" -gt 0 ]; then
  echo "BT-HOLD: running"; n=0; end=$(( $(cut -d. -f1 /proc/uptime) + HOLD ))
  while [ $(cut -d. -f1 /proc/uptime) -lt $end ]; do
    n=$((n+1)); printf 'counter-%08d' $n | dd of=/dev/vda bs=1 seek=$((OFF+4096)) conv=notrunc 2>/dev/null
    sleep 0.2; done
fi
sync; poweroff -f
"""


@dataclass(frozen=True)
class Guest:
    kernel: Path
    initrd: Path


@dataclass(frozen=True)
class BootResult:
    console: str

    @property
    def results(self) -> list[str]:
        return re.findall(r"BT-RESULT: (.*)", self.console)

    def read(self) -> str:
        reads = [r[5:].strip() for r in self.results if r.startswith("READ ")]
        assert reads, f"no READ line on the console:\n{self.console[-3000:]}"
        return reads[-1]


def _run(*argv: str, timeout: float = 120.0, check: bool = True, cwd: Path | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check,
                          cwd=cwd)


def virsh(*args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run("virsh", "-q", "-c", VIRSH_URI, *args, timeout=timeout, check=check)


# -- daemons ------------------------------------------------------------------------------------


def _libvirt_answers() -> bool:
    try:
        return virsh("version", timeout=60, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


#: every test session using libvirtd holds this lock shared; the session that started the
#: daemons stops them only if it can then take it exclusively (nobody else is using them).
USERS_LOCK = Path("/run/cowshed-tests-libvirt.lock")


@contextlib.contextmanager
def libvirt_daemons() -> Iterator[None]:
    """A working libvirtd for the block; started only if none answers, and stopped afterwards
    only by the session that started it and only when no other session uses it."""
    for tool in ("libvirtd", "virtlogd", "virsh", "qemu-system-x86_64"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} missing: apt-get install libvirt-daemon-system "
                               "libvirt-clients qemu-system-x86 (./run test does)")
    fd = os.open(USERS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        started = _start_daemons()
        try:
            yield
        finally:
            _stop_if_alone(fd, started)
    finally:
        os.close(fd)


def _stop_if_alone(fd: int, started: list[int]) -> None:
    if not started:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # converts our shared hold
    except BlockingIOError:
        return  # another session still boots guests: leave the daemons running
    for pid in reversed(started):  # libvirtd first, then virtlogd
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 15)


def _start_daemons() -> list[int]:
    started: list[int] = []
    if not _libvirt_answers():
        for daemon, pidfile in (("virtlogd", "/run/virtlogd.pid"),
                                ("libvirtd", "/run/libvirtd.pid")):
            if _run("pgrep", "-x", daemon, check=False).returncode != 0:
                _run(daemon, "-d")
                started.append(_wait_pid(Path(pidfile)))
        deadline = time.monotonic() + 120
        while not _libvirt_answers():
            if time.monotonic() > deadline:
                raise RuntimeError("libvirtd started but does not answer")
            time.sleep(0.2)
    return started


def _wait_pid(pidfile: Path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(pidfile.read_text().strip())
        time.sleep(0.05)
    raise RuntimeError(f"{pidfile} did not appear")


# -- the guest ----------------------------------------------------------------------------------


def _kernel_package() -> str:
    out = _run("apt-cache", "depends", "linux-image-cloud-amd64").stdout
    match = re.search(r"Depends: (linux-image-[0-9][^\s]*-cloud-amd64)", out)
    if not match:
        raise RuntimeError(f"cannot resolve the cloud kernel package:\n{out}")
    return match[1]


def build_guest(cache: Path) -> Guest:
    """The kernel and initramfs, built once per kernel version into ``cache``."""
    package = _kernel_package()
    folder = cache / package
    guest = Guest(folder / "vmlinuz", folder / "initrd.gz")
    if guest.kernel.is_file() and guest.initrd.is_file():
        return guest
    folder.mkdir(parents=True, exist_ok=True)
    debs = list(folder.glob(f"{package}_*.deb"))
    if not debs:
        _run("apt-get", "download", package, timeout=600, cwd=folder)
        debs = list(folder.glob(f"{package}_*.deb"))
    files = _extract(debs[0], lambda name: "/boot/vmlinuz-" in name or any(
        name.endswith(f"/{m}.ko") for m in MODULES))
    kernel = next(data for name, data in files.items() if "/boot/vmlinuz-" in name)
    modules = {Path(n).stem: d for n, d in files.items() if n.endswith(".ko")}
    busybox = Path("/bin/busybox").read_bytes()
    entries = {"init": (INIT.encode(), 0o755), "bin/busybox": (busybox, 0o755)}
    entries |= {f"lib/modules/{m}.ko": (modules[m], 0o644) for m in MODULES}
    tmp_kernel, tmp_initrd = guest.kernel.with_suffix(".tmp"), guest.initrd.with_suffix(".tmp")
    tmp_kernel.write_bytes(kernel)
    tmp_initrd.write_bytes(gzip.compress(newc(entries, ("proc", "sys", "dev", "bin", "lib",
                                                          "lib/modules")), 1))
    for tmp, final in ((tmp_kernel, guest.kernel), (tmp_initrd, guest.initrd)):
        tmp.chmod(0o644)
        tmp.rename(final)
    return guest


def _extract(deb: Path, want: object) -> dict[str, bytes]:
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            if member.isfile() and want(member.name):  # type: ignore[operator]
                data = tar.extractfile(member)
                assert data is not None
                out[member.name] = data.read()
    proc.wait()
    return out


def newc(files: dict[str, tuple[bytes, int]], dirs: tuple[str, ...]) -> bytes:
    """A cpio archive in the kernel's ``newc`` format (no cpio binary on the host)."""
    buf = io.BytesIO()
    ino = 1

    def entry(name: str, mode: int, data: bytes) -> None:
        nonlocal ino
        raw = name.encode() + b"\0"
        header = "070701" + "".join(f"{v:08X}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0))
        buf.write(header.encode() + raw)
        buf.write(b"\0" * (-(110 + len(raw)) % 4))
        buf.write(data)
        buf.write(b"\0" * (-len(data) % 4))
        ino += 1

    for d in dirs:
        entry(d, 0o040755, b"")
    for name, (data, perm) in files.items():
        entry(name, 0o100000 | perm, data)
    entry("TRAILER!!!", 0, b"")
    return buf.getvalue()


# -- domains ------------------------------------------------------------------------------------


def domain_xml(name: str, guest: Guest, disks_xml: str, console: Path, cmdline: str) -> str:
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{guest.kernel}</kernel>
    <initrd>{guest.initrd}</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet {cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
{disks_xml}
    <controller type='usb' model='none'/>
    <serial type='file'><source path='{console}'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""


@dataclass
class Domain:
    name: str
    console: Path

    def wait_for(self, text: str, timeout: float = BOOT_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.console.exists() and text in self.console.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear:\n{self.output()[-3000:]}")

    def wait_gone(self, timeout: float = BOOT_TIMEOUT) -> BootResult:
        deadline = time.monotonic() + timeout
        while (state := virsh("domstate", self.name, check=False)).returncode == 0 or not (
                "failed to get domain" in state.stderr or "Domain not found" in state.stderr):
            if state.returncode != 0:
                raise AssertionError(f"libvirtd went away while {self.name} ran: "
                                     f"{state.stderr}")
            if time.monotonic() > deadline:
                virsh("destroy", self.name, check=False)
                raise AssertionError(f"domain {self.name} did not power off:\n"
                                     f"{self.output()[-3000:]}")
            time.sleep(0.25)
        return BootResult(self.output())

    def output(self) -> str:
        return self.console.read_text(errors="replace") if self.console.exists() else ""


def start(name: str, guest: Guest, disks_xml: str, workdir: Path, cmdline: str) -> Domain:
    console = workdir / f"{name}.console"
    xml = workdir / f"{name}.xml"
    xml.write_text(domain_xml(name, guest, disks_xml, console, cmdline))
    virsh("create", str(xml), timeout=300)
    return Domain(name, console)


def boot(name: str, guest: Guest, disks_xml: str, workdir: Path, cmdline: str) -> BootResult:
    """Boot until the guest powers off; the console output."""
    return start(name, guest, disks_xml, workdir, cmdline).wait_gone()
