"""The documentation keeps up with the code: every command, option, setting and store option.

Reads ``docs/*.md`` and ``README.md``. A new command, option or setting fails here until it is
documented (commands and options in ``docs/cli.md``, settings and store options in
``docs/configuration.md``).
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from cowshed.backends._options import parse_options
from cowshed.backends.file import FileConfig
from cowshed.backends.memory import MemoryConfig
from cowshed.cli.main import main
from cowshed.config import _STORE_META, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Settings with no environment form.
NO_ENV = {"stores", "volume_backends", "node"}


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def all_docs() -> str:
    texts = [p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md"))]
    return "\n".join([*texts, (ROOT / "README.md").read_text(encoding="utf-8")])


def walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):  # loads lazily registered commands too
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{path} lists {name} but has no such command"
            yield from walk(sub, f"{path} {name}")


COMMANDS = dict(walk(main, "cowshed"))


def section(text: str, command: str) -> str:
    """The part of ``text`` under the heading naming `command`, up to the next heading at the
    same or a higher level; empty if there is no such heading."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(#+)\s", line)
        if match and f"`{command}`" in line:
            level = len(match[1])
            end = next((j for j in range(i + 1, len(lines))
                        if re.match(rf"^#{{1,{level}}}\s", lines[j])), len(lines))
            return "\n".join(lines[i:end])
    return ""


def flags(command: click.Command) -> list[str]:
    out: list[str] = []
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            out += [f for f in [*param.opts, *param.secondary_opts] if f.startswith("--")]
    return [f for f in out if f != "--help"]


def missing(words: list[str], text: str) -> list[str]:
    return [w for w in words if not re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]


def test_the_walk_finds_the_commands() -> None:
    """Guards the tests below against passing over an empty tree."""
    assert {"cowshed serve", "cowshed image create", "cowshed image download"} <= set(COMMANDS)
    assert "--disk-format" in flags(COMMANDS["cowshed image create"])
    assert "--no-progress" in flags(COMMANDS["cowshed image upload"])


def test_missing_finds_whole_words_only() -> None:
    assert missing(["--file", "--store"], "use `--file-name` or --store") == ["--file"]
    assert section("# `a`\nx\n## `a b`\ny\n# `c`\nz", "a b") == "## `a b`\ny"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_and_option_is_in_cli_md(path: str) -> None:
    body = section(read("cli.md"), path)
    assert body, f"docs/cli.md has no heading naming `{path}`"
    assert missing(flags(COMMANDS[path]), body) == [], f"options of {path} not in its section"


def test_every_command_is_mentioned_somewhere() -> None:
    text = all_docs()
    assert [p for p in COMMANDS if p not in text] == []


def test_every_setting_is_documented_with_its_environment_form() -> None:
    text = read("configuration.md")
    names = [f.name for f in dataclasses.fields(Settings)]
    assert missing(names, text) == []
    env = [f"COWSHED_{n.upper()}" for n in names if n not in NO_ENV]
    assert missing(env, text) == []


def _rbd_config() -> type | None:
    try:
        module = importlib.import_module("cowshed.backends.rbd")
    except ImportError:
        return None
    config: type = module.RbdConfig
    return config


def store_option_classes() -> list[type]:
    classes: list[type] = [FileConfig, MemoryConfig]
    rbd = _rbd_config()
    if rbd is not None:
        classes.append(rbd)
    return classes


@pytest.mark.parametrize("config", store_option_classes(), ids=lambda c: c.__name__)
def test_every_store_option_is_documented(config: type) -> None:
    text = read("configuration.md")
    assert missing([f.name for f in dataclasses.fields(config)], text) == []


def test_store_table_keys_are_documented() -> None:
    assert missing(list(_STORE_META), read("configuration.md")) == []


def _toml_examples(text: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", text, flags=re.S)


def test_the_toml_example_is_valid(tmp_path: Path) -> None:
    """The example parses, passes Settings validation, and its store options are accepted."""
    examples = _toml_examples(read("configuration.md"))
    assert examples
    for n, example in enumerate(examples):
        path = tmp_path / f"example{n}.toml"
        path.write_text(example)
        settings = load_settings(config_file=path, environ={})
        assert settings.stores, "the example should show stores"
        configs = {"file": FileConfig, "memory": MemoryConfig, "rbd": _rbd_config()}
        for store in settings.stores:
            config = configs[store.type]
            if config is not None:
                parse_options(store.name, config, store.options)


def test_the_toml_example_covers_every_general_store_key() -> None:
    example = tomllib.loads(_toml_examples(read("configuration.md"))[0])
    used = {key for body in example["stores"].values() for key in body}
    assert set(_STORE_META) <= used
