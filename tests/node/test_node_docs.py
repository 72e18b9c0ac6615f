"""docs/node.md documents every [node] option with its environment form."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from cowshed.node.settings import NodeSettings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "node.md").read_text(encoding="utf-8")


def test_every_node_option_and_its_environment_form_is_documented() -> None:
    for field in dataclasses.fields(NodeSettings):
        assert re.search(rf"`{field.name}`", DOC), field.name
        assert f"`COWSHED_NODE_{field.name.upper()}`" in DOC, field.name
