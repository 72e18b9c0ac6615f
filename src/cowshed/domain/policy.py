"""oslo.policy's rule language, the part OpenStack's default rules use, parsed and evaluated.

Supported: ``""``/``@`` (always), ``!`` (never), ``role:NAME``, ``rule:NAME``, generic checks
``KEY:VALUE`` where VALUE may be ``%(target_key)s`` and KEY a credential (``project_id``,
``user_id``, ``domain_id``, ``user_domain_id``, ``is_admin``) or a quoted constant
(``'public':%(visibility)s``), combined with ``not``, ``and``, ``or`` and parentheses. Anything
else (``http:`` checks, unbalanced parentheses) is a ConfigError naming the rule, so a policy
file is checked when the server starts, not when a request first meets the bad rule.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cowshed.errors import ConfigError

Credentials = Mapping[str, object]
Target = Mapping[str, object]
#: rule references deeper than this are a loop in the policy (oslo.policy's own guard).
MAX_DEPTH = 32


@dataclass(frozen=True)
class Check:
    """One parsed rule node: ``kind`` is always, never, role, rule, generic, not, and, or."""

    kind: str
    left: str = ""
    right: str = ""
    parts: tuple[Check, ...] = ()

    def __call__(self, creds: Credentials, target: Target, rules: Mapping[str, Check],
                 depth: int = 0) -> bool:
        if depth > MAX_DEPTH:
            return False
        if self.kind in ("always", "never"):
            return self.kind == "always"
        if self.kind == "role":
            roles = creds.get("roles")
            return isinstance(roles, frozenset | set | list | tuple) and \
                self.left.lower() in {str(r).lower() for r in roles}
        if self.kind == "rule":
            ref = rules.get(self.left)
            return ref is not None and ref(creds, target, rules, depth + 1)
        if self.kind == "generic":
            return _generic(self.left, self.right, creds, target)
        if self.kind == "not":
            return not self.parts[0](creds, target, rules, depth)
        if self.kind == "and":
            return all(p(creds, target, rules, depth) for p in self.parts)
        return any(p(creds, target, rules, depth) for p in self.parts)


ALWAYS = Check("always")


def _generic(kind: str, match: str, creds: Credentials, target: Target) -> bool:
    """``kind:match``: the credential (or quoted constant) ``kind`` equals ``match`` with
    ``%(key)s`` filled from the target; a key the target lacks (or holds None) never matches."""
    try:
        wanted = _interpolate(match, target)
    except KeyError:
        return False
    if kind[:1] in ("'", '"'):
        try:
            return wanted == str(ast.literal_eval(kind))
        except (ValueError, SyntaxError):
            return False
    value = creds.get(kind)
    return value is not None and wanted == str(value)


_SUBST = re.compile(r"%\(([^)]+)\)s")


def _interpolate(text: str, target: Target) -> str:
    def fill(match: re.Match[str]) -> str:
        value = target[match[1]]
        if value is None:
            raise KeyError(match[1])
        return str(value)

    return _SUBST.sub(fill, text)


def parse_rule(name: str, text: str) -> Check:
    """Parse one rule's check string; ConfigError (naming ``name``) if it is not valid."""
    tokens = _tokens(text)
    if not tokens:
        return ALWAYS
    parser = _Parser(name, tokens)
    check = parser.expression()
    if parser.pos != len(tokens):
        raise ConfigError(f"policy rule {name!r}: unexpected {tokens[parser.pos]!r}")
    return check


def _tokens(text: str) -> list[str]:
    """Whitespace-separated words with their leading ``(`` and trailing ``)`` split off, as
    oslo.policy does (a ``%(key)s`` inside a word keeps its parentheses)."""
    out: list[str] = []
    for word in text.split():
        core = word.lstrip("(")
        out.extend("(" * (len(word) - len(core)))
        stripped = core.rstrip(")")
        closing = len(core) - len(stripped)
        if stripped:
            out.append(stripped)
        out.extend(")" * closing)
    return out


class _Parser:
    def __init__(self, name: str, tokens: list[str]) -> None:
        self.name = name
        self.tokens = tokens
        self.pos = 0

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _fail(self, what: str) -> ConfigError:
        return ConfigError(f"policy rule {self.name!r}: {what}")

    def expression(self) -> Check:
        parts = [self._conjunction()]
        while self._peek() == "or":
            self.pos += 1
            parts.append(self._conjunction())
        return parts[0] if len(parts) == 1 else Check("or", parts=tuple(parts))

    def _conjunction(self) -> Check:
        parts = [self._negation()]
        while self._peek() == "and":
            self.pos += 1
            parts.append(self._negation())
        return parts[0] if len(parts) == 1 else Check("and", parts=tuple(parts))

    def _negation(self) -> Check:
        if self._peek() == "not":
            self.pos += 1
            return Check("not", parts=(self._negation(),))
        return self._atom()

    def _atom(self) -> Check:
        token = self._peek()
        if token is None:
            raise self._fail("the rule ends too early")
        self.pos += 1
        if token == "(":
            inner = self.expression()
            if self._peek() != ")":
                raise self._fail("unbalanced parentheses")
            self.pos += 1
            return inner
        if token in (")", "and", "or"):
            raise self._fail(f"unexpected {token!r}")
        return self._check(token)

    def _check(self, token: str) -> Check:
        if token == "@":
            return ALWAYS
        if token == "!":
            return Check("never")
        kind, sep, match = token.partition(":")
        if not sep or not kind or not match:
            raise self._fail(f"{token!r} is not a check (KIND:VALUE)")
        if kind == "role":
            return Check("role", left=match)
        if kind == "rule":
            return Check("rule", left=match)
        if kind in ("http", "https"):
            raise self._fail("http checks are not supported")
        return Check("generic", left=kind, right=match)
