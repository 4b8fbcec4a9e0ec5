"""The policy versions a process knows, loaded and checked once, chosen by id or by date."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from engine.errors import NoPolicyInForce, UnknownPolicy
from engine.loader import Policy, load_policy
from engine.names import unknown


class PolicyRegistry:
    def __init__(self, policies: list[Policy]) -> None:
        self._by_id = {p.id: p for p in sorted(policies, key=lambda p: p.meta.effective_from)}

    @classmethod
    def from_folder(cls, rules_dir: str | Path) -> PolicyRegistry:
        """Every sub-folder holding a policy.yaml is a policy version."""
        folders = sorted(p.parent for p in Path(rules_dir).glob("*/policy.yaml"))
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
            if policy.in_force_at(int(moment.timestamp() // 1)):
                return policy
        known = ", ".join(f"{p.id} (from {p.meta.effective_from})" for p in self._by_id.values())
        raise NoPolicyInForce(
            f"no policy version was in force at {moment.isoformat()}; known versions: {known}. "
            "Name a policy to judge this report against it."
        )


def default_rules_dir() -> Path:
    from rules import RULES_DIR

    return RULES_DIR


@lru_cache(maxsize=1)
def default_registry() -> PolicyRegistry:
    """The shipped policies, loaded once per process."""
    return PolicyRegistry.from_folder(default_rules_dir())
