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


def _entry_points(role: str) -> dict:
    spec_file = ROLE_DIRS[role] / "meta" / "argument_specs.yml"
    assert spec_file.is_file(), f"{role}: meta/argument_specs.yml is missing"
    return _load(spec_file)["argument_specs"]


def _spec_options(role: str, entry_point: str = "main") -> dict:
    return _entry_points(role)[entry_point].get("options") or {}


def _required(options: dict) -> set:
    return {k for k, v in options.items() if v.get("required")}


def _public_defaults(role: str) -> dict:
    defaults_file = ROLE_DIRS[role] / "defaults" / "main.yml"
    defaults = _load(defaults_file) if defaults_file.is_file() else {}
    return {k: v for k, v in defaults.items() if not k.startswith("_")}


def test_there_are_roles_to_check():
    assert "libzmq" in ROLES


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_and_defaults_have_the_same_keys(role):
    # A required option has no default: the caller must set it.
    options = _spec_options(role)
    optional_keys = set(options) - _required(options)
    default_keys = set(_public_defaults(role))
    assert optional_keys - default_keys == set(), f"{role}: in argument_specs, not in defaults"
    assert default_keys - optional_keys == set(), (
        f"{role}: in defaults, not optional in argument_specs"
    )


@pytest.mark.parametrize("role", ROLES)
def test_required_options_have_no_default(role):
    for entry_point in _entry_points(role):
        options = _spec_options(role, entry_point)
        for key in _required(options):
            assert "default" not in options[key], f"{role} {entry_point}: {key} is required"
            if entry_point == "main":
                assert key not in _public_defaults(role), f"{role}: {key} is required"


@pytest.mark.parametrize("role", ROLES)
def test_every_entry_point_has_its_task_file(role):
    for entry_point in _entry_points(role):
        tasks = ROLE_DIRS[role] / "tasks" / f"{entry_point}.yml"
        assert tasks.is_file(), f"{role}: entry point {entry_point} has no tasks/{entry_point}.yml"


def _role_includes():
    """Every include_role / import_role of a collection role: (where, role, tasks_from)."""
    task_files = [p for d in ROLE_DIRS.values() for p in sorted((d / "tasks").glob("*.yml"))]
    playbooks = sorted((REPO / "playbooks").glob("*.yml")) + sorted(REPO.glob("molecule/*/*.yml"))
    for path in task_files + playbooks:
        for task in _tasks(_load_all(path)):
            for action in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
                args = task.get(action)
                if isinstance(args, dict) and str(args.get("name", "")).startswith("zeromq."):
                    role = args["name"].split(".")[-1]
                    yield path.relative_to(REPO), role, args.get("tasks_from", "main")


def _load_all(path: Path) -> list:
    loaded = yaml.safe_load(path.read_text())
    return loaded if isinstance(loaded, list) else []


def _tasks(items: list):
    for item in items:
        if not isinstance(item, dict):
            continue
        yield item
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks"):
            yield from _tasks(item.get(key) or [])


def test_role_includes_name_an_entry_point_of_the_role():
    includes = list(_role_includes())
    assert ("roles/zmq_proxy/tasks/install.yml", "common", "driver_source") in [
        (str(w), r, t) for w, r, t in includes
    ]
    for where, role, tasks_from in includes:
        assert role in ROLE_DIRS, f"{where}: no role {role}"
        assert tasks_from in _entry_points(role), (
            f"{where}: {role} has no entry point {tasks_from} in meta/argument_specs.yml"
        )


def test_common_has_one_entry_point_per_job():
    """The shared role's jobs each have a task file and an entry point with only their inputs."""
    entry_points = _entry_points("common")
    task_files = {p.stem for p in (ROLE_DIRS["common"] / "tasks").glob("*.yml")}
    assert set(entry_points) == task_files == {"main", "driver_source"}
    assert set(_spec_options("common")) == {"common_checked_role"}
    assert set(_spec_options("common", "driver_source")) == {
        "common_driver_source",
        "common_driver_dest",
    }


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
    for entry_point in _entry_points(role):
        for key in _spec_options(role, entry_point):
            assert key.startswith(role + "_"), f"{role}: {key} lacks the {role}_ prefix"
