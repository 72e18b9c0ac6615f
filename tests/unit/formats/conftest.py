"""Fixtures for the formats tests: the generated image corpora and an audited QemuImg."""

from __future__ import annotations

import pytest

from cowshed.formats.qemu_img import QemuImg, QemuImgCall
from tests.hostile_images import BenignCase, HostileCase, benign_cases, hostile_cases


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> list[HostileCase]:
    return hostile_cases(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="session")
def benign(tmp_path_factory: pytest.TempPathFactory) -> list[BenignCase]:
    return benign_cases(tmp_path_factory.mktemp("benign"))


class AuditedQemuImg:
    """A real QemuImg plus the list of every call it made."""

    def __init__(self, qemu: QemuImg | None = None) -> None:
        self.calls: list[QemuImgCall] = []
        base = qemu or QemuImg()
        self.qemu = QemuImg(base.limits, audit=self.calls.append)


@pytest.fixture
def audited() -> AuditedQemuImg:
    return AuditedQemuImg()
