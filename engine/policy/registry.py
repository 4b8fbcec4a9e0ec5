"""The policy versions a process knows, loaded and checked once, chosen by id or by date.

A set of versions cannot be silently wrong: two versions with one id, or effective ranges that
overlap, fail when the set is loaded, as does a rules folder that is missing or holds none.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path

from misper.engine.errors import FieldError, NoPolicyInForce, PolicyInvalid, UnknownPolicy
from misper.engine.localtime import to_epoch
from misper.engine.policy.loader import load_policy
from misper.engine.policy.model import Policy
from misper.engine.policy.names import unknown
from misper.engine.policy.yamlfile import YamlProblems, read_yaml

FORCE_ID = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


class PolicyRegistry:
    def __init__(
        self, policies: list[Policy], forces: dict[str, str] | None = None, default: str | None = None
    ) -> None:
        self.forces = dict(forces or {})
        self._default = default
        check_versions(policies)
        check_forces(policies, self.forces)
        self._by_id = {p.id: p for p in sorted(policies, key=lambda p: p.meta.effective_from)}
        self._usable: dict[str | None, dict[str, Policy]] = {}

    @classmethod
    def from_folder(cls, rules_dir: str | Path) -> PolicyRegistry:
        """Every sub-folder holding a policy.yaml is a policy version."""
        rules_dir = Path(rules_dir)
        if not rules_dir.is_dir():
            raise PolicyInvalid(
                f"the rules folder {rules_dir} does not exist",
                [FieldError(str(rules_dir), "is not a folder of policy versions")],
            )
        folders = sorted(p.parent for p in rules_dir.glob("*/policy.yaml"))
        if not folders:
            raise PolicyInvalid(
                f"the rules folder {rules_dir} holds no policy",
                [FieldError(str(rules_dir), "has no sub-folder with a policy.yaml")],
            )
        forces, default = read_forces(rules_dir)
        return cls([load_policy(folder) for folder in folders], forces, default)

    @property
    def policies(self) -> list[Policy]:
        return list(self._by_id.values())

    def get(self, policy_id: str) -> Policy:
        if policy_id not in self._by_id:
            raise UnknownPolicy(unknown("policy", policy_id, self._by_id) or policy_id)
        return self._by_id[policy_id]

    def usable(self, policy_id: str, force: str | None) -> Policy:
        """A policy a force may be judged by (every one when ``force`` is None); another force's
        is as unknown as one that does not exist, and only usable ones are suggested."""
        if force is None:
            return self.get(policy_id)
        self.usable_by(force)
        usable = self._usable[force]
        if policy_id not in usable:
            raise UnknownPolicy(unknown("policy", policy_id, usable) or policy_id)
        return usable[policy_id]

    def default_force(self) -> str | None:
        """The force a timeline belongs to when neither it nor a key names one (the command line,
        a trainer's simulation): the one forces.yaml names as its default, else the only one."""
        if self._default is not None:
            return self._default
        return next(iter(self.forces)) if len(self.forces) == 1 else None

    def check_force(self, force: str) -> None:
        if force not in self.forces:
            raise UnknownPolicy(
                unknown("force", force, self.forces) or force,
                [FieldError("force", unknown("force", force, self.forces) or force)],
            )

    def usable_by(self, force: str | None) -> list[Policy]:
        """The versions a force may be judged by: its own and the national ones (worked out once
        per force, not on every evaluation)."""
        if force not in self._usable:
            self._usable[force] = {p.id: p for p in self._by_id.values() if p.meta.force in (None, force)}
        return list(self._usable[force].values())

    def in_force(self, moment: datetime, force: str | None = None) -> Policy:
        """The version whose local effective dates contain ``moment``: the force's own (the
        folder's only force when none is given) before a national one; never a silent default."""
        force = force or self.default_force()
        at = to_epoch(moment)
        found = [p for p in self.usable_by(force) if p.in_force_at(at)]
        for policy in sorted(found, key=lambda p: p.meta.force is None):
            return policy
        known = ", ".join(f"{p.id} ({_span(p)})" for p in self.usable_by(force))
        raise NoPolicyInForce(
            f"no policy version was in force at {moment.isoformat()}; known versions: {known}. "
            "Name a policy to judge this report against it."
        )


def read_forces(rules_dir: Path) -> tuple[dict[str, str], str | None]:
    """The rules folder's forces.yaml: id -> display name, and the default force it names (none
    when it has no such file)."""
    path = rules_dir / "forces.yaml"
    if not path.exists():
        return {}, None
    try:
        data = read_yaml(path.read_text(encoding="utf-8")) or {}
    except YamlProblems as exc:
        raise PolicyInvalid(
            "forces.yaml is not valid", [FieldError("forces.yaml", problem) for problem in exc.problems]
        ) from None
    forces = data.get("forces") if isinstance(data, dict) else None
    problems = []
    if not isinstance(forces, dict) or not set(data) <= {"forces", "default"}:
        problems.append(
            FieldError(
                "forces.yaml",
                "holds forces (a mapping of force id to name) and, optionally, default (one of them)",
            )
        )
        forces = {}
    for force, name in forces.items():
        if not isinstance(force, str) or not FORCE_ID.match(force):
            problems.append(
                FieldError(f"forces.yaml: {force}", "a force id is 2-40 lower-case letters, digits and -")
            )
        if not isinstance(name, str) or not name.strip():
            problems.append(FieldError(f"forces.yaml: {force}", "needs the force's name"))
    default = data.get("default") if isinstance(data, dict) else None
    if default is not None and default not in forces:
        problems.append(
            FieldError("forces.yaml: default", unknown("force", str(default), forces) or str(default))
        )
    if problems:
        raise PolicyInvalid("forces.yaml is not valid", problems)
    return {str(k): str(v) for k, v in forces.items()}, default


def check_forces(policies: list[Policy], forces: dict[str, str]) -> None:
    """A policy names a force the folder declares, or none (a national policy)."""
    errors = [
        FieldError(
            f"{p.id}/policy.yaml: force",
            unknown("force (declared in the rules folder's forces.yaml)", p.meta.force, forces) or "",
        )
        for p in policies
        if p.meta.force is not None and p.meta.force not in forces
    ]
    if errors:
        raise PolicyInvalid(f"{len(errors)} policies name a force the rules folder does not declare", errors)


def check_versions(policies: list[Policy]) -> None:
    """One id per version, and, within one force (or among the national versions), no local date
    on which two versions are both in force. A force's version may overlap a national one: the
    force's wins."""
    errors: list[FieldError] = []
    seen: dict[str, Policy] = {}
    for p in policies:
        if p.id in seen:
            errors.append(FieldError(p.id, "two policy folders declare this id; each version has its own id"))
        seen[p.id] = p
    for force in {p.meta.force for p in seen.values()}:
        errors += _overlaps([p for p in seen.values() if p.meta.force == force])
    if errors:
        raise PolicyInvalid(f"the policy versions are not consistent ({len(errors)} problems)", errors)


def _overlaps(versions: list[Policy]) -> list[FieldError]:
    errors = []
    ordered = sorted(versions, key=lambda p: p.meta.effective_from)
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        ends = earlier.meta.effective_to
        if ends is None or ends >= later.meta.effective_from:
            errors.append(
                FieldError(
                    later.id,
                    f"its effective dates ({_span(later)}) overlap those of {earlier.id} ({_span(earlier)}); "
                    "set effective_to on the earlier version to the day before the later one starts",
                )
            )
    return errors


def _span(p: Policy) -> str:
    ends = p.meta.effective_to
    return f"from {p.meta.effective_from}" + (f" to {ends}" if ends else ", open-ended")


def shipped_rules_dir() -> Path:
    """The policy versions installed with misper (the ``misper.rules`` package's folder)."""
    return Path(str(resources.files("misper.rules")))


@lru_cache(maxsize=4)
def registry_for(rules_dir: Path) -> PolicyRegistry:
    """The policies of a rules folder, loaded and checked once per process."""
    return PolicyRegistry.from_folder(rules_dir)


def default_registry() -> PolicyRegistry:
    """The policies shipped with misper (a way in that honours MISPER_RULES_DIR passes its
    folder to ``registry_for``: the engine never reads the environment)."""
    return registry_for(shipped_rules_dir())
