"""Every role's meta/argument_specs.yml mirrors its defaults/main.yml: same keys, same defaults."""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# The collection's roles, and the Debian-packaged test cloud's (scaffolding, same rules).
ROLE_DIRS = {
    p.name: p
    for parent in (REPO / "roles", REPO / "tests" / "debian_cloud" / "roles")
    for p in parent.iterdir()
    if (p / "tasks").is_dir()
}
ROLES = sorted(ROLE_DIRS)


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def _spec_options(role: str) -> dict:
    spec_file = ROLE_DIRS[role] / "meta" / "argument_specs.yml"
    assert spec_file.is_file(), f"{role}: meta/argument_specs.yml is missing"
    return _load(spec_file)["argument_specs"]["main"].get("options", {})


def _public_defaults(role: str) -> dict:
    defaults_file = ROLE_DIRS[role] / "defaults" / "main.yml"
    defaults = _load(defaults_file) if defaults_file.is_file() else {}
    return {k: v for k, v in defaults.items() if not k.startswith("_")}


def test_there_are_roles_to_check():
    assert "libzmq" in ROLES


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_and_defaults_have_the_same_keys(role):
    spec_keys = set(_spec_options(role))
    default_keys = set(_public_defaults(role))
    assert spec_keys - default_keys == set(), f"{role}: in argument_specs, not in defaults"
    assert default_keys - spec_keys == set(), f"{role}: in defaults, not in argument_specs"


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_defaults_match_defaults_file(role):
    options = _spec_options(role)
    for key, value in _public_defaults(role).items():
        # A secret's spec may leave its default out: ansible-core prints the spec with its
        # defaults templated when validation fails, which would show the secret.
        if options[key].get("no_log") and "default" not in options[key]:
            continue
        # Templated defaults ("{{ ... }}") are resolved at run time; the spec documents the string.
        assert options[key].get("default") == value, f"{role}: default of {key} differs"


@pytest.mark.parametrize("role", ROLES)
def test_every_public_variable_is_prefixed_with_the_role_name(role):
    for key in _spec_options(role):
        assert key.startswith(role + "_"), f"{role}: {key} lacks the {role}_ prefix"
