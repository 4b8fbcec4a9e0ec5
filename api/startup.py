"""What a way in does before it serves: the policies loaded and checked, and the incident store
at its latest migration. Shared by the HTTP app and the command line."""

from __future__ import annotations

from misper.api.incidents.store import upgrade
from misper.api.keys import KeyStore
from misper.api.settings import Settings, SettingsInvalid
from misper.engine.errors import FieldError
from misper.engine.policy.names import unknown
from misper.engine.policy.registry import PolicyRegistry, registry_for
from misper.engine.policy.selftest import check_all_policy_tests


def load_registry(settings: Settings) -> PolicyRegistry:
    """Every policy folder, checked, with its embedded tests run; a missing or broken folder,
    overlapping versions or a failing test raise PolicyInvalid and start-up stops."""
    registry = registry_for(settings.rules_dir)
    check_all_policy_tests(registry.policies)
    return registry


def prepare_store(settings: Settings, registry: PolicyRegistry, force: str | None = None) -> list[str]:
    """Make the data folder (owner-only) when the database lives in it, and bring the incident
    database to the latest migration. ``force`` (else MISPER_UPGRADE_FORCE) is the force that what
    was stored before forces belongs to: the database's rows and the keys made then. Returns
    the names of the keys given it."""
    force = force or settings.upgrade_force
    if force is not None and force not in registry.forces:
        raise SettingsInvalid(
            "the force named for the upgrade is not one the rules declare",
            [FieldError("--force / MISPER_UPGRADE_FORCE", unknown("force", force, registry.forces) or force)],
        )
    url = settings.store_url
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    upgrade(url, force)
    return KeyStore(settings.keys_file).give_force(force) if force else []
