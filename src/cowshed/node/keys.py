"""Passphrases of encrypted disks, kept wrapped under a host key (never in clear on disk).

Nova asks a key manager (Barbican) for each encrypted disk's key. Here the key manager is local:
each disk gets a random passphrase, stored in ``<instances_path>/_keys/<secret uuid>.json``
encrypted with AES-256-GCM under the host key (``encryption_key_file``, 32 random bytes made on
first use, mode 0600, outside the instances directory by default). The secret's UUID is what
records, ``disk.info`` and the libvirt XML carry; the passphrase itself only ever travels
through pipes (to qemu-img and virsh) and into librbd's memory, never into a log, argv, the
XML, an instance record or ``disk.info``.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cowshed.domain.instance_disks import DiskEncryption
from cowshed.errors import ConfigError, DataCorrupted, ExternalToolError, NotFound
from cowshed.formats.qemu_img import QemuImg
from cowshed.node.cache import BaseFile
from cowshed.node.files import atomic_write_json, read_json

_KEY_BYTES = 32
_PBKDF_ATTEMPTS = 4


@dataclass(frozen=True)
class NewKey:
    secret_uuid: str
    passphrase: bytes


class KeyStore:
    def __init__(self, host_key_file: Path, folder: Path) -> None:
        self.host_key_file = host_key_file
        self.folder = folder

    def new(self, instance: str, disk: str) -> NewKey:
        """A fresh random passphrase for ``instance``/``disk``, stored wrapped."""
        secret_uuid = str(uuid.uuid4())
        passphrase = secrets.token_urlsafe(32).encode()
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._host_key()).encrypt(nonce, passphrase, secret_uuid.encode())
        atomic_write_json(self.folder / f"{secret_uuid}.json", {
            "instance": instance, "disk": disk, "alg": "AES-256-GCM",
            "nonce": base64.b64encode(nonce).decode(),
            "sealed": base64.b64encode(sealed).decode(),
        }, mode=0o600)
        return NewKey(secret_uuid, passphrase)

    def passphrase(self, secret_uuid: str) -> bytes:
        data = read_json(self.folder / f"{_check_uuid(secret_uuid)}.json")
        if data is None:
            raise NotFound(f"no key for secret {secret_uuid}")
        try:
            return AESGCM(self._host_key()).decrypt(
                base64.b64decode(data["nonce"]), base64.b64decode(data["sealed"]),
                secret_uuid.encode(),
            )
        except (InvalidTag, KeyError, ValueError) as exc:
            raise DataCorrupted(
                f"the key of secret {secret_uuid} cannot be unwrapped (wrong host key?)"
            ) from exc

    def delete(self, secret_uuid: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / f"{_check_uuid(secret_uuid)}.json").unlink()

    def create_encrypted_overlay(self, qemu: QemuImg, instance: str, disk: str, base: BaseFile,
                                 size: int, dst: Path, iter_time_ms: int) -> DiskEncryption:
        """A LUKS qcow2 overlay on ``base`` (only the overlay's clusters are encrypted)."""
        key = self.new(instance, disk)
        try:
            for attempt in range(_PBKDF_ATTEMPTS):
                try:
                    qemu.create_encrypted(dst, size, key.passphrase, backing=base.path,
                                          backing_fmt=base.format, iter_time_ms=iter_time_ms)
                    break
                except ExternalToolError as exc:
                    # qemu benchmarks PBKDF2 with getrusage; on a busy host it sometimes
                    # cannot measure and gives up. That says nothing about the disk: retry.
                    if "accurate CPU usage" not in exc.message or attempt + 1 == _PBKDF_ATTEMPTS:
                        raise
                    with contextlib.suppress(FileNotFoundError):
                        dst.unlink()
        except BaseException:
            self.delete(key.secret_uuid)
            raise
        return DiskEncryption(format="luks", secret_uuid=key.secret_uuid)

    def _host_key(self) -> bytes:
        try:
            key = self.host_key_file.read_bytes()
        except FileNotFoundError:
            key = self._make_host_key()
        if len(key) != _KEY_BYTES:
            raise ConfigError(f"{self.host_key_file} is not a {_KEY_BYTES}-byte key")
        return key

    def _make_host_key(self) -> bytes:
        """Create the host key once, atomically (``link`` fails if another process won)."""
        self.host_key_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.host_key_file.with_name(f".{self.host_key_file.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(_KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, self.host_key_file)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
        finally:
            tmp.unlink()
        return self.host_key_file.read_bytes()


def _check_uuid(value: str) -> str:
    return str(uuid.UUID(value))
