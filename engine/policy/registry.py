"""The policy versions a process knows, loaded and checked once, chosen by id or by date.

A set of versions cannot be silently wrong: two versions with one id, or effective ranges that
overlap, fail when the set is loaded, as does a rules folder that is missing or holds none.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path

from misper.engine.errors import FieldError, NoPolicyInForce, PolicyInvalid, UnknownPolicy
from misper.engine.localtime import to_epoch
from misper.engine.policy.loader import load_policy
from misper.engine.policy.model import Policy
from misper.engine.policy.names import unknown


class PolicyRegistry:
    def __init__(self, policies: list[Policy]) -> None:
        check_versions(policies)
        self._by_id = {p.id: p for p in sorted(policies, key=lambda p: p.meta.effective_from)}

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
        return cls([load_policy(folder) for folder in folders])

    @property
    def policies(self) -> list[Policy]:
        return list(self._by_id.values())

    def get(self, policy_id: str) -> Policy:
        if policy_id not in self._by_id:
            raise UnknownPolicy(unknown("policy", policy_id, self._by_id) or policy_id)
        return self._by_id[policy_id]

    def in_force(self, moment: datetime) -> Policy:
        """The version whose local effective dates contain ``moment``; never a silent default."""
        for policy in self._by_id.values():
            if policy.in_force_at(to_epoch(moment)):
                return policy
        known = ", ".join(f"{p.id} ({_span(p)})" for p in self._by_id.values())
        raise NoPolicyInForce(
            f"no policy version was in force at {moment.isoformat()}; known versions: {known}. "
            "Name a policy to judge this report against it."
        )


def check_versions(policies: list[Policy]) -> None:
    """One id per version, and no local date on which two versions are both in force."""
    errors: list[FieldError] = []
    seen: dict[str, Policy] = {}
    for p in policies:
        if p.id in seen:
            errors.append(FieldError(p.id, "two policy folders declare this id; each version has its own id"))
        seen[p.id] = p
    ordered = sorted(seen.values(), key=lambda p: p.meta.effective_from)
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
    if errors:
        raise PolicyInvalid(f"the policy versions are not consistent ({len(errors)} problems)", errors)


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
