"""The shared volume suite: the same tests on the file backend (qcow2 overlays, real qemu-img)
and on the RBD backend (real Ceph). Data written to a volume is read back through its snapshot,
its clone and its clone-of-clone; depth limits make clones independent; deletes in every order
never lose a child's data and leave nothing behind."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest

from cowshed.domain.volumes import Snapshot, SnapshotStatus, Volume, VolumeStatus
from cowshed.errors import Forbidden, InvalidRequest, InvalidState, NotFound
from tests.volumes.conftest import ADMIN, ALL_KINDS, CALLER, MiB, VolumeEnv


def make(env: VolumeEnv, **kwargs: Any) -> Volume:
    svc = env.services.volumes
    created = svc.create(CALLER, **{"size": 1, **kwargs})
    env.created.add(created.id)
    volume = svc.wait_volume(created.id, timeout=120)
    assert volume.status is VolumeStatus.AVAILABLE, volume
    return volume


def snap(env: VolumeEnv, volume: Volume) -> Snapshot:
    svc = env.services.volumes
    made = svc.wait_snapshot(svc.snapshot_create(CALLER, volume.id).id, timeout=120)
    assert made.status is SnapshotStatus.AVAILABLE
    return made


def gone(env: VolumeEnv, volume_id: str) -> None:
    svc = env.services.volumes
    svc.delete(CALLER, volume_id)
    with pytest.raises(NotFound):
        svc.wait_volume(volume_id, timeout=120)


def gone_snapshot(env: VolumeEnv, snapshot_id: str) -> None:
    svc = env.services.volumes
    svc.snapshot_delete(CALLER, snapshot_id)
    with pytest.raises(NotFound):
        svc.wait_snapshot(snapshot_id, timeout=120)


def settle(env: VolumeEnv) -> None:
    """Wait for the reclaim work the last deletes started."""
    for object_id in env.services.volumes.rt.running():
        env.services.volumes.rt.wait_local(object_id, 120)


@pytest.mark.parametrize("backend_kind", ALL_KINDS)
def test_data_through_snapshot_clone_and_clone_of_clone(env: VolumeEnv) -> None:
    vol = make(env, name="origin")
    env.write(vol, 0, MiB, 0xA1)
    first = snap(env, vol)
    env.write(vol, 0, MiB, 0xB2)
    env.write(vol, 4 * MiB, MiB, 0xC3)
    clone = make(env, size=None, source_volid=vol.id)
    env.write(vol, 0, MiB, 0xD4)  # after the clone: not in it
    grandchild = make(env, size=2, source_volid=clone.id)
    from_snap = make(env, size=None, snapshot_id=first.id)
    assert env.snapshot_holds(first, 0, MiB, 0xA1)
    assert env.holds(from_snap, 0, MiB, 0xA1) and env.holds(from_snap, 4 * MiB, MiB, 0)
    assert env.holds(clone, 0, MiB, 0xB2) and env.holds(clone, 4 * MiB, MiB, 0xC3)
    assert env.holds(grandchild, 0, MiB, 0xB2) and env.holds(grandchild, 4 * MiB, MiB, 0xC3)
    assert env.holds(vol, 0, MiB, 0xD4)
    assert grandchild.size == 2 and env.store.size(grandchild.backend_key) == 2 << 30
    env.write(clone, 0, MiB, 0xE5)
    assert env.holds(grandchild, 0, MiB, 0xB2) and env.holds(vol, 0, MiB, 0xD4)


def test_clone_reuses_its_snapshot_until_the_volume_is_attached(env: VolumeEnv) -> None:
    svc = env.services.volumes
    vol = make(env)
    a = make(env, size=None, source_volid=vol.id)
    b = make(env, size=None, source_volid=vol.id)
    assert a.backend_parent is not None and b.backend_parent is not None
    assert a.backend_parent.snap == b.backend_parent.snap
    svc.reserve(CALLER, vol.id)
    svc.unreserve(CALLER, vol.id)  # attached once: a hypervisor may have written it
    c = make(env, size=None, source_volid=vol.id)
    assert c.backend_parent is not None and c.backend_parent.snap != a.backend_parent.snap


def test_clone_beyond_the_depth_limit_is_independent(env_factory: Any) -> None:
    env = env_factory(max_clone_depth=2)
    chain = [make(env)]
    env.write(chain[0], MiB, MiB, 0x5A)
    for _ in range(3):
        chain.append(make(env, size=None, source_volid=chain[-1].id))
    depths = [env.independent(v) for v in chain]
    # origin is standalone; two clone links are allowed; the third clone is flattened
    assert depths == [True, False, False, True]
    assert chain[3].backend_parent is None
    for volume in chain:
        assert env.holds(volume, MiB, MiB, 0x5A)
    for volume in chain[:3]:
        gone(env, volume.id)
    settle(env)
    assert env.holds(chain[3], MiB, MiB, 0x5A)
    gone(env, chain[3].id)
    settle(env)
    assert env.objects() == []


def test_depth_zero_makes_full_copies(env_factory: Any) -> None:
    env = env_factory(max_clone_depth=0)
    vol = make(env)
    env.write(vol, 0, MiB, 0x11)
    copy = make(env, size=None, source_volid=vol.id)
    assert copy.backend_parent is None and env.independent(copy)
    assert env.holds(copy, 0, MiB, 0x11)
    assert env.store.snapshots(vol.backend_key) == []


def test_flatten_volume_from_snapshot(env_factory: Any) -> None:
    env = env_factory(flatten_from_snapshot=True)
    vol = make(env)
    env.write(vol, 0, MiB, 0x21)
    first = snap(env, vol)
    child = make(env, size=None, snapshot_id=first.id)
    assert child.backend_parent is None and env.independent(child)
    gone_snapshot(env, first.id)
    gone(env, vol.id)
    settle(env)
    assert env.holds(child, 0, MiB, 0x21)


_OBJECTS = ("vol", "snap", "clone", "grandchild")
#: a Latin square (each object deleted first, second, third and last once) plus the two
#: orders that matter most (parents first, children first); COWSHED_TEST_SLOW=1 runs all 24.
_ORDERS = list(itertools.permutations(_OBJECTS)) if os.environ.get("COWSHED_TEST_SLOW") else [
    ("vol", "snap", "clone", "grandchild"), ("snap", "clone", "grandchild", "vol"),
    ("clone", "grandchild", "vol", "snap"), ("grandchild", "vol", "snap", "clone"),
    ("grandchild", "clone", "snap", "vol"), ("snap", "vol", "grandchild", "clone"),
]


@pytest.mark.parametrize("backend_kind", ALL_KINDS)
@pytest.mark.parametrize("order", _ORDERS, ids="-".join)
def test_deletes_in_any_order_keep_children_and_leave_nothing(
        env: VolumeEnv, order: tuple[str, ...]) -> None:
    vol = make(env)
    env.write(vol, 0, MiB, 0x31)
    first = snap(env, vol)
    env.write(vol, 0, MiB, 0x32)
    clone = make(env, size=None, source_volid=vol.id)
    grandchild = make(env, size=None, source_volid=clone.id)
    from_snap = make(env, size=None, snapshot_id=first.id)
    expect = {"clone": (clone, 0x32), "grandchild": (grandchild, 0x32),
              "from_snap": (from_snap, 0x31), "vol": (vol, 0x32)}
    ids = {"vol": vol.id, "clone": clone.id, "grandchild": grandchild.id}
    snap_left = True
    for name in order:
        if name == "snap":
            if snap_left:
                gone_snapshot(env, first.id)
        elif name == "vol" and snap_left:  # Cinder refuses a volume with snapshots: cascade
            env.services.volumes.delete(CALLER, vol.id, cascade=True)
            with pytest.raises(NotFound):
                env.services.volumes.wait_volume(vol.id, timeout=120)
            del expect[name]
        else:
            gone(env, ids[name])
            del expect[name]
        snap_left = snap_left and name not in ("snap", "vol")
        settle(env)
        for survivor, byte in expect.values():
            assert env.holds(survivor, 0, MiB, byte), (order, name, survivor.id)
    gone(env, from_snap.id)
    settle(env)
    assert env.objects() == []
    assert env.services.volumes.rt.db.volumes_where() == []


def test_extend_grows_only_and_keeps_data(env: VolumeEnv) -> None:
    svc = env.services.volumes
    vol = make(env)
    env.write(vol, 0, MiB, 0x41)
    svc.extend(CALLER, vol.id, 3)
    grown = svc.wait_volume(vol.id)
    assert (grown.status, grown.size) == (VolumeStatus.AVAILABLE, 3)
    assert env.store.size(vol.backend_key) == 3 << 30
    assert env.holds(grown, 0, MiB, 0x41) and env.holds(grown, (3 << 30) - MiB, MiB, 0)
    for bad in (3, 2, 0, -1):
        with pytest.raises(InvalidState):
            svc.extend(CALLER, vol.id, bad)


def test_revert_to_latest_snapshot(env: VolumeEnv) -> None:
    svc = env.services.volumes
    vol = make(env)
    env.write(vol, 0, MiB, 0x51)
    older = snap(env, vol)
    env.write(vol, 0, MiB, 0x52)
    latest = snap(env, vol)
    env.write(vol, 0, MiB, 0x53)
    with pytest.raises(InvalidState):
        svc.revert_to_snapshot(CALLER, vol.id, older.id)
    svc.revert_to_snapshot(CALLER, vol.id, latest.id)
    reverted = svc.wait_volume(vol.id)
    assert reverted.status is VolumeStatus.AVAILABLE
    assert env.holds(reverted, 0, MiB, 0x52)
    assert svc.snapshot_get(CALLER, latest.id).status is SnapshotStatus.AVAILABLE


def test_bad_requests(env: VolumeEnv) -> None:
    svc = env.services.volumes
    for size in (0, -1, "1", 1.5, True):
        with pytest.raises(InvalidRequest):
            svc.create(CALLER, size=size)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        svc.create(CALLER, size=1, source_volid="nope")
    with pytest.raises(NotFound):
        svc.create(CALLER, size=1, volume_type="nope")
    vol = make(env)
    with pytest.raises(InvalidRequest):
        svc.create(CALLER, size=None, source_volid=vol.id, snapshot_id="x")
    svc.reset_status(ADMIN, vol.id, status=VolumeStatus.ERROR)
    with pytest.raises(InvalidState):
        svc.snapshot_create(CALLER, vol.id)
    with pytest.raises(Forbidden):
        svc.reset_status(CALLER, vol.id, status=VolumeStatus.AVAILABLE)
