"""Wiring: build every service of a deployment from Settings, and close them again."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from cowshed.backends.file import FileBackend, FileConfig
from cowshed.config import Settings
from cowshed.db.engine import create_engine
from cowshed.db.identity import IdentityRepository
from cowshed.db.repository import Repository
from cowshed.domain.context import RequestContext, local_admin
from cowshed.errors import BackendUnreachable, ConfigError
from cowshed.formats.qemu_img import QemuImg
from cowshed.services.context import Deps
from cowshed.services.health import HealthChecker
from cowshed.services.identity.auth import Authenticator, NoAuth
from cowshed.services.identity.bootstrap import BootstrapResult, bootstrap
from cowshed.services.identity.keystone import KeystoneAuth
from cowshed.services.identity.login import StandaloneAuth, TokenService
from cowshed.services.identity.ratelimit import LoginLimiter
from cowshed.services.identity.service import IdentityService
from cowshed.services.identity.tokens import TokenCodec, load_key
from cowshed.services.images.data import DataService
from cowshed.services.images.imports import ImportService
from cowshed.services.images.legacy_tasks import TaskService
from cowshed.services.images.locations import LocationService
from cowshed.services.images.members import MemberService
from cowshed.services.images.service import ImageService
from cowshed.services.maintenance import Maintenance
from cowshed.services.metadefs.service import MetadefService
from cowshed.services.ownership import Ownership
from cowshed.services.policy import load_policy
from cowshed.services.pools import Pools
from cowshed.services.recovery import RecoveryReport, recover
from cowshed.services.stores import StoreSet
from cowshed.services.volumes import VolumeService

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The library's entry point: one per process."""

    deps: Deps
    images: ImageService
    data: DataService
    imports: ImportService
    members: MemberService
    volumes: VolumeService
    #: who a request's token stands for, per ``auth_strategy``.
    auth: Authenticator
    #: the metadata definitions catalog (/v2/metadefs).
    metadefs: MetadefService
    maintenance: Maintenance
    #: /healthcheck's database and store checks.
    health: HealthChecker
    #: the task API (GET/POST /v2/tasks).
    tasks: TaskService
    #: the locations API (POST/GET /v2/images/{id}/locations).
    locations: LocationService
    #: users, projects, roles (the standalone identity; the CLI manages it in any strategy).
    identity: IdentityService
    #: standalone tokens; None unless ``auth_strategy`` is standalone.
    tokens: TokenService | None = None

    @property
    def settings(self) -> Settings:
        return self.deps.settings

    def admin_context(self) -> RequestContext:
        """The context of whoever holds the deployment's files (the CLI, scripts): admin over
        every project, creating into ``default_owner``."""
        return local_admin(self.settings.default_owner)

    def bootstrap_identity(self, auth_url: str) -> BootstrapResult | None:
        """Create the standalone admin, project and roles if missing (standalone only)."""
        if self.settings.auth_strategy != "standalone":
            return None
        return bootstrap(self.identity.repo, self.settings, auth_url)

    def recover(self) -> RecoveryReport:
        """Reconciliation of images, then volumes (at start-up and after each maintenance
        sweep). A store that does not answer (Ceph down) stops that part with a warning instead
        of keeping the server from starting (or filling the log with tracebacks): its requests
        answer 503 until it is back, and the next sweep reconciles what is left. A misconfigured
        store (no ceph.conf, no pool) still refuses the start."""
        try:
            report = recover(self.deps)
        except BackendUnreachable as exc:
            log.warning("image recovery stopped, a store is unreachable: %s", exc.message)
            report = RecoveryReport(0, 0, 0, 0)
        try:
            volumes = self.volumes.recover()
        except BackendUnreachable as exc:
            log.warning("volume recovery stopped, a backend is unreachable: %s", exc.message)
            return report
        return replace(report, volumes_recovered=volumes.volumes_recovered,
                       snapshots_recovered=volumes.snapshots_recovered,
                       volume_orphans_removed=volumes.orphans_removed)

    def close(self) -> None:
        if isinstance(self.auth, KeystoneAuth):
            self.auth.close()
        self.maintenance.stop()
        self.volumes.close()
        self.imports.close()
        self.locations.close()
        self.deps.pools.close()  # waits for running imports before the stores go
        self.deps.owners.stop()
        self.deps.stores.close()
        self.deps.repo.engine.dispose()


def open_services(settings: Settings, *, qemu: QemuImg | None = None) -> Services:
    """Create the data dir, migrate the database and load the stores.

    ``qemu`` is the qemu-img runner imports use (default: limits only, no audit callback);
    tests pass one with an audit callback to prove what ran.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.staging_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database)
    stores = StoreSet(settings)
    staging = FileBackend(
        "os_glance_staging_store", FileConfig(filesystem_store_datadir=str(settings.staging_dir))
    )
    repo = Repository(engine)
    owners = Ownership(repo, timedelta(seconds=settings.owner_lease))
    owners.start()
    deps = Deps(settings=settings, repo=repo, stores=stores, staging=staging, owners=owners,
                policy=load_policy(settings.policy_file), pools=Pools.for_settings(settings))
    identity = IdentityService(IdentityRepository(engine), deps.policy)
    tokens = _tokens(identity, settings, deps) if settings.auth_strategy == "standalone" else None
    services = Services(
        deps=deps, images=ImageService(deps), data=DataService(deps),
        imports=ImportService(deps, qemu), members=MemberService(deps),
        volumes=VolumeService(deps, qemu), metadefs=MetadefService(deps),
        maintenance=Maintenance(deps, settings.maintenance_interval),
        health=HealthChecker(deps), tasks=TaskService(deps), locations=LocationService(deps),
        auth=_authenticator(deps, tokens), identity=identity, tokens=tokens,
    )
    # every sweep also reconciles what dead owners left (owner-aware, services/recovery.py)
    services.maintenance.recover = services.recover
    return services


def _tokens(identity: IdentityService, settings: Settings, deps: Deps) -> TokenService:
    limiter = LoginLimiter(settings.lockout_failure_attempts, settings.lockout_duration)
    codec = TokenCodec(load_key(settings.token_key_path))
    return TokenService(identity.repo, codec, deps.policy, settings.token_expiration, limiter)


def _authenticator(deps: Deps, tokens: TokenService | None) -> Authenticator:
    strategy = deps.settings.auth_strategy
    if strategy == "noauth":
        return NoAuth(deps.settings)
    if strategy == "standalone" and tokens is not None:
        return StandaloneAuth(tokens)
    if strategy == "keystone":
        return KeystoneAuth(deps.settings.keystone_authtoken, deps.policy)
    raise ConfigError(f"auth_strategy {strategy!r} is not available yet")
