"""The shipped policies, and editing a copy of them: a test changes the YAML a policy author
would and reads the problems loading reports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from misper.engine import PolicyInvalid, load_policy
from misper.engine.policy.registry import PolicyRegistry, shipped_rules_dir

SHIPPED_RULES = shipped_rules_dir()
SHIPPED_POLICY = SHIPPED_RULES / "suffolk-2023-02"


def edit(folder: Path, name: str, change) -> None:
    """Change one YAML file of a policy folder: change(data) edits its parsed content."""
    path = folder / name
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def edit_yaml(path: Path, change) -> None:
    """Change one YAML file, named by its path: change(data) edits its parsed content."""
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def problems(folder: Path) -> dict[str, str]:
    """The problems loading this policy folder reports, field by field (it must fail)."""
    with pytest.raises(PolicyInvalid) as info:
        load_policy(folder)
    return {e.field: e.message for e in info.value.errors}


def registry_problems(folder: Path) -> dict[str, str]:
    """The problems loading this rules folder (every version) reports, field by field (it must fail)."""
    with pytest.raises(PolicyInvalid) as info:
        PolicyRegistry.from_folder(folder)
    return {e.field: e.message for e in info.value.errors}


# A rule an author appends to a clause file (looked_after.yaml): its id and its `when` entries
# (indented six spaces) are filled in.
A_RULE = """
  - id: {id}
    clause: L1
    code: PHILOMENA_PROFILE_MISSING
    severity: advisory
    when:
{when}
    message: "A rule an author added."
    tests:
      - {{id: t, expect_fires: 0}}
"""
