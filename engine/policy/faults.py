"""The problems found while a policy folder is checked, each with where it is (file, rule or
deadline, field) and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """Collects (where, message) pairs while a file is checked."""

    where: str
    items: list[tuple[str, str]]

    def add(self, field: str, message: str | None) -> None:
        if message:
            where = self.where if self.where.endswith("/") or not field else self.where + ": "
            self.items.append((f"{where}{field}" if field else self.where, message))

    def under(self, suffix: str) -> Faults:
        return Faults(f"{self.where}: {suffix}", self.items)
