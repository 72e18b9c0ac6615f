"""Who may do what: OpenStack's default rules, overridable by a policy file.

The defaults are Glance's secure-RBAC ones (admin, member, reader per project; see
docs/identity.md for the table). ``policy_file`` (YAML or JSON, as ``oslopolicy-sample-generator``
writes them) replaces rules by name; rules it does not name keep their defaults. Other services
add their defaults to :data:`DEFAULTS` under their own rule names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from cowshed.domain.context import RequestContext
from cowshed.domain.policy import Check, Target, parse_rule
from cowshed.errors import ConfigError, Forbidden

log = logging.getLogger(__name__)

_MEMBER = "role:member and project_id:%(project_id)s"
_READER = "role:reader and project_id:%(project_id)s"
_SEEN = ("project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s "
         "or 'public':%(visibility)s or 'shared':%(visibility)s")
ADMIN = "rule:context_is_admin"
ADMIN_OR_MEMBER = f"{ADMIN} or ({_MEMBER})"
ADMIN_OR_READER = f"{ADMIN} or ({_READER})"

#: rule name → check string. Glance's names and defaults, so a Glance policy file applies.
IMAGE_RULES: Mapping[str, str] = {
    "context_is_admin": "role:admin",
    "default": "role:admin",
    "add_image": f"{ADMIN} or ({_MEMBER} and project_id:%(owner)s)",
    "get_image": f"{ADMIN} or (role:reader and ({_SEEN}))",
    "get_images": ADMIN_OR_READER,
    "modify_image": ADMIN_OR_MEMBER,
    "publicize_image": ADMIN,
    "communitize_image": ADMIN_OR_MEMBER,
    "delete_image": ADMIN_OR_MEMBER,
    "download_image": f"{ADMIN} or (role:member and ({_SEEN}))",
    "upload_image": ADMIN_OR_MEMBER,
    "deactivate": ADMIN_OR_MEMBER,
    "reactivate": ADMIN_OR_MEMBER,
    "copy_image": ADMIN,
    "get_image_location": ADMIN_OR_READER,
    "set_image_location": ADMIN_OR_MEMBER,
    "delete_image_location": ADMIN,
    "add_member": ADMIN_OR_MEMBER,
    "delete_member": ADMIN_OR_MEMBER,
    "get_member": f"{ADMIN} or (role:reader and (project_id:%(project_id)s or "
                  "project_id:%(member_id)s))",
    "get_members": f"{ADMIN} or (role:reader and (project_id:%(project_id)s or "
                   "project_id:%(member_id)s))",
    "modify_member": f"{ADMIN} or (role:member and project_id:%(member_id)s)",
    "tasks_api_access": ADMIN,
    # the locations API (2.17) is for services (Cinder, Nova) registering data they placed
    "add_image_location": f"role:service or {ADMIN}",
    "fetch_image_location": f"role:service or {ADMIN}",
    "stores_info_detail": ADMIN,
}

#: Glance's metadef rules: anyone may read (visibility still hides private namespaces),
#: only an admin may change definitions.
METADEF_RULES: Mapping[str, str] = {
    "metadef_default": "",
    "metadef_admin": "role:admin",
    **{rule: "rule:metadef_default" for rule in (
        "get_metadef_namespace", "get_metadef_namespaces", "get_metadef_object",
        "get_metadef_objects", "get_metadef_property", "get_metadef_properties",
        "get_metadef_tag", "get_metadef_tags", "list_metadef_resource_types",
        "get_metadef_resource_type")},
    **{rule: "rule:metadef_admin" for rule in (
        "add_metadef_namespace", "modify_metadef_namespace", "delete_metadef_namespace",
        "add_metadef_object", "modify_metadef_object", "delete_metadef_object",
        "add_metadef_property", "modify_metadef_property", "remove_metadef_property",
        "add_metadef_tag", "add_metadef_tags", "modify_metadef_tag", "delete_metadef_tag",
        "delete_metadef_tags", "add_metadef_resource_type_association",
        "remove_metadef_resource_type_association")},
}


SELF = "user_id:%(target.user.id)s"
#: the identity rules (Keystone's names), overridable in policy_file like the image ones.
IDENTITY_RULES: Mapping[str, str] = {
    "identity:admin_required": ADMIN,
    "identity:get_user": f"{ADMIN} or {SELF}",
    "identity:list_user_projects": f"{ADMIN} or {SELF}",
    "identity:change_password": SELF,
    "identity:validate_token": f"{ADMIN} or user_id:%(target.token.user_id)s",
    "identity:revoke_token": f"{ADMIN} or user_id:%(target.token.user_id)s",
}


#: every service's defaults; a service adds its table here (volumes …).
DEFAULTS: dict[str, Mapping[str, str]] = {
    "image": IMAGE_RULES, "metadefs": METADEF_RULES, "identity": IDENTITY_RULES}


class Policy:
    """Parsed rules; :meth:`allowed` answers, :meth:`enforce` raises Forbidden."""

    def __init__(self, rules: Mapping[str, str]) -> None:
        self.text = MappingProxyType(dict(rules))
        self.rules = MappingProxyType({name: parse_rule(name, check) for name, check in rules.items()})

    def allowed(self, rule: str, ctx: RequestContext, target: Target) -> bool:
        check: Check | None = self.rules.get(rule) or self.rules.get("default")
        if check is None:
            return False
        return check(credentials(ctx), target, self.rules)

    def enforce(self, rule: str, ctx: RequestContext, target: Target) -> None:
        if not self.allowed(rule, ctx, target):
            raise Forbidden(f"You are not authorized to complete {rule} action.")

    def is_admin(self, ctx: RequestContext) -> bool:
        """The ``context_is_admin`` rule, which decides RequestContext.is_admin."""
        return self.allowed("context_is_admin", ctx, {})


def credentials(ctx: RequestContext) -> dict[str, object]:
    """What generic checks (``project_id:…``) compare against, in oslo.context's names."""
    return {
        "user_id": ctx.user_id, "project_id": ctx.project_id, "domain_id": ctx.domain_id,
        "user_domain_id": ctx.user_domain_id, "roles": ctx.roles, "is_admin": ctx.is_admin,
    }


def load_policy(policy_file: str) -> Policy:
    """Every service's defaults, with ``policy_file``'s rules (if any) in their place."""
    rules: dict[str, str] = {}
    for table in DEFAULTS.values():
        rules.update(table)
    if policy_file:
        rules.update(_read_overrides(Path(policy_file)))
    return Policy(rules)


def _read_overrides(path: Path) -> dict[str, str]:
    import yaml  # only a deployment with a policy file pays for the YAML parser

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read policy_file {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"policy_file {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ConfigError(f"policy_file {path}: expected a mapping of rule names to strings")
    known = {name for table in DEFAULTS.values() for name in table}
    for name in sorted(set(data) - known):
        log.warning("policy_file %s: rule %r is not used by cowshed", path, name)
    return data
