"""A real Keystone and OpenStack's Tempest, from PyPI, for tests against a running cowshed.

Use the pytest fixtures (import them into your conftest.py, as tests/tempest/conftest.py does)::

    from tests._openstack.fixtures import cowshed_cloud, keystone, openstack_venv, tempest_workspace

    def test_something(tempest_workspace):           # Keystone + cowshed + tempest.conf
        results = tempest_workspace.run(r"^tempest\\.api\\.volume\\.")
        assert results.passed >= N, results.failed

    def test_tokens(keystone):                          # Keystone alone
        token = keystone.issue_token("admin", ADMIN_PASSWORD, "admin")
        keystone.api("GET", "/projects")                # admin REST calls
        keystone.register("image", "glance", url)       # catalog entries

What happens underneath:

- ``venv.py``: Keystone 30 and Tempest 47 (with waitress) live in their own virtualenv, because
  they pin oslo/SQLAlchemy versions that need not agree with ``.venv``. It is installed once
  from the pinned ``requirements.txt`` (``--no-deps``, about 45 s on a quiet machine) into
  ``$COWSHED_TEST_CACHE`` (default ``~/.cache/cowshed-tests``) and reused while the pins stay.
- ``keystone.py``: SQLite (WAL), fernet tokens, ``keystone-manage bootstrap`` (admin/member/
  reader roles, ``RegionOne``), a ``service`` project with user ``cowshed`` (admin + service
  roles, password ``SERVICE_PASSWORD``), served by waitress on a free loopback port.
- ``fixtures.py``: ``cowshed_cloud`` starts ``cowshed serve`` with ``auth_strategy =
  "keystone"`` (tokens validated by this Keystone as user ``cowshed``) and registers it as
  ``image`` (its root URL) and as ``volumev3`` and ``block-storage``
  (``/volume/v3/%(project_id)s``); ``image_mirror`` serves a small qcow2 on loopback for the
  web-download tests (cowshed's URL filter is configured to allow it).
- ``tempest.py``: ``etc/tempest.conf`` with dynamic credentials (Tempest makes its own
  projects and users as Keystone's admin), ``[service_available]`` glance on (cinder when
  asked: ``Workspace.create(..., cinder=True)``), ``[volume] catalog_type = volumev3``; results
  come from ``stestr last`` as one status per test id, countable per class.
"""
