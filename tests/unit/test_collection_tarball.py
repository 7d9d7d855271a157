"""The collection tarball (ansible-galaxy collection build) holds what an operator installs.

Built once per module from this checkout. Its members must leave out the lab, the checkout's
tooling and the tests; everything the shipped content refers to must be in it; and galaxy.yml's
dependencies must be exactly the collections the shipped content calls.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

TOP = Path(__file__).resolve().parents[2]
NAMESPACE, NAME = "zeromq", "openstack"
OWN = f"{NAMESPACE}.{NAME}"

# Paths (fnmatch) that must not be in the tarball, each with why.
LEFT_OUT = {
    "roles/lab_*": "a lab role",
    "playbooks/lab.yml": "a lab playbook",
    "playbooks/lab_*.yml": "a lab playbook",
    "inventories/aio": "the lab's inventory",
    "inventories/aio/*": "the lab's inventory",
    "library": "the checkout's module links",
    "library/*": "the checkout's module links",
    "ansible.cfg": "the checkout's Ansible config",
    ".ansible-lint": "a lint config",
    ".yamllint": "a lint config",
    "ruff.toml": "a lint config",
    "tox.ini": "checkout tooling",
    "requirements-dev.txt": "checkout tooling",
    "scripts/*": "checkout tooling",
    "molecule/*": "a Molecule scenario",
    "tests/unit/*": "a unit test",
    "tests/lab/*": "lab scaffolding",
    "tests/debian_cloud/*": "test scaffolding",
    "driver/tests*": "the driver's tests",
    "driver/bench*": "the driver's benchmarks",
    "*.egg-info*": "build leftovers",
    ".lab*": "the lab's generated secrets",
    "*__pycache__*": "a Python cache",
    "*.pyc": "a Python cache",
    "*.pytest_cache*": "a test cache",
    "*.ruff_cache*": "a lint cache",
}

# Where the shipped content uses another collection: as a task's module, a filter or test, a
# lookup, a role, a connection, a module_defaults group, or a Python import.
_FQCN = r"([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*"
_YAML_USES = [
    re.compile(rf"^\s*(?:-\s+)?{_FQCN}:", re.MULTILINE),
    re.compile(rf"(?:\||\bis\s+(?:not\s+)?)\s*{_FQCN}\b"),
    re.compile(rf"\b(?:lookup|query|q)\(\s*['\"]{_FQCN}['\"]"),
    re.compile(rf"\b(?:role|name|action|module|connection|ansible_connection):\s*['\"]?{_FQCN}\b"),
    re.compile(rf"^\s*-\s+{_FQCN}\s*$", re.MULTILINE),
    re.compile(r"group/([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\."),
]
_PY_USES = [re.compile(r"\bansible_collections\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.")]
_NOT_DEPENDENCIES = {"ansible.builtin", "ansible.legacy", OWN}


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    run = subprocess.run(
        [str(galaxy), "collection", "build", "--force", "--output-path", str(out), str(TOP)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, f"ansible-galaxy collection build failed:\n{run.stdout}{run.stderr}"
    (built,) = out.glob(f"{NAMESPACE}-{NAME}-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def members(tarball) -> set[str]:
    with tarfile.open(tarball) as tar:
        return {m.name.rstrip("/") for m in tar.getmembers()}


@pytest.fixture(scope="module")
def shipped(tarball, tmp_path_factory) -> Path:
    """The tarball unpacked: the collection as installed."""
    root = tmp_path_factory.mktemp("collection")
    with tarfile.open(tarball) as tar:
        tar.extractall(root, filter="data")
    return root


def _files(root: Path, tops: tuple[str, ...], suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(
        p
        for top in tops
        if (root / top).is_dir()
        for p in (root / top).rglob("*")
        if p.is_file() and p.suffix in suffixes
    )


def _collections_used(root: Path) -> dict[str, str]:
    """{namespace.collection: first shipped file that uses it}, builtin and our own left out."""
    used: dict[str, str] = {}
    for path in _files(root, ("roles", "playbooks", "plugins"), (".yml", ".yaml", ".j2", ".py")):
        text = path.read_text(encoding="utf-8")
        patterns = _PY_USES if path.suffix == ".py" else _YAML_USES
        for pattern in patterns:
            for match in pattern.finditer(text):
                fqcn = f"{match.group(1)}.{match.group(2)}"
                if fqcn not in _NOT_DEPENDENCIES:
                    used.setdefault(fqcn, str(path.relative_to(root)))
    return used


def _galaxy() -> dict:
    return yaml.safe_load((TOP / "galaxy.yml").read_text(encoding="utf-8"))


def test_tarball_is_named_after_galaxy_yml(tarball):
    assert tarball.name == f"{NAMESPACE}-{NAME}-{_galaxy()['version']}.tar.gz"


def test_scaffolding_is_left_out(members):
    leaked = sorted(
        f"{member} ({why})"
        for member in members
        for pattern, why in LEFT_OUT.items()
        if fnmatch.fnmatch(member, pattern)
    )
    assert leaked == [], "in the tarball but not part of the product:\n" + "\n".join(leaked)


def test_every_product_role_ships_with_its_argument_specs(members):
    roles = sorted(p.name for p in (TOP / "roles").iterdir() if (p / "tasks").is_dir())
    product = [r for r in roles if not r.startswith("lab_")]
    assert "oslo_messaging_zmq" in product
    missing = [
        f"roles/{role}/{part}"
        for role in product
        for part in ("tasks/main.yml", "meta/argument_specs.yml", "meta/main.yml")
        if (TOP / "roles" / role / part).is_file() and f"roles/{role}/{part}" not in members
    ]
    assert missing == [], f"product role files missing from the tarball: {missing}"
    no_specs = [r for r in product if f"roles/{r}/meta/argument_specs.yml" not in members]
    assert no_specs == [], f"roles shipped without meta/argument_specs.yml: {no_specs}"


def test_product_playbooks_and_plugins_ship(members):
    expected = [
        str(p.relative_to(TOP))
        for p in sorted((TOP / "playbooks").glob("*.yml")) + sorted((TOP / "plugins").rglob("*.py"))
        if not p.name.startswith("lab") and "__pycache__" not in p.parts
    ]
    missing = [path for path in expected if path not in members]
    assert missing == [], f"missing from the tarball: {missing}"
    # galaxy.yml itself becomes MANIFEST.json.
    for kept in ("MANIFEST.json", "README.md", "CHANGELOG.md", "meta/runtime.yml"):
        assert kept in members, f"{kept} is missing from the tarball"


def test_sanity_ignore_files_ship(members):
    """scripts/sanity runs ansible-test on the installed copy, which reads them from there."""
    ignores = [str(p.relative_to(TOP)) for p in (TOP / "tests" / "sanity").glob("ignore-*.txt")]
    missing = [path for path in ignores if path not in members]
    assert missing == [], f"sanity ignore files missing from the tarball: {missing}"


def test_driver_source_the_roles_install_ships(shipped):
    """roles/common copies driver/ files matching _common_driver_patterns to the hosts."""
    common_vars_file = shipped / "roles/common/vars/main.yml"
    assert common_vars_file.is_file(), "roles/common/vars/main.yml is missing from the tarball"
    common_vars = yaml.safe_load(common_vars_file.read_text())
    driver = shipped / "driver"
    files = [str(p.relative_to(driver)) for p in driver.rglob("*") if p.is_file()]
    unmatched = [
        pattern
        for pattern in common_vars["_common_driver_patterns"]
        if not fnmatch.filter(files, pattern)
    ]
    assert unmatched == [], f"roles/common ships driver/{unmatched}, absent from the tarball"
    project = tomllib.loads((driver / "pyproject.toml").read_text())
    assert (driver / project["project"]["readme"]).is_file(), "driver's pyproject readme missing"
    for package in project["tool"]["setuptools"]["packages"]:
        init = driver / package.replace(".", "/") / "__init__.py"
        assert init.is_file(), f"driver package {package} missing from the tarball"


def _filters_of(path: Path) -> set[str]:
    """The names a filter plugin file's FilterModule.filters() returns (its dict's keys)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and node.name == "filters":
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Dict):
                    names |= {k.value for k in ret.value.keys if isinstance(k, ast.Constant)}
    return names


def _own_plugin_names(root: Path) -> dict[str, set[str]]:
    plugins = root / "plugins"
    names = {
        kind: {p.stem for p in (plugins / kind).glob("*.py")}
        for kind in ("modules", "lookup", "doc_fragments", "module_utils")
    }
    names["filter"] = {name for p in (plugins / "filter").glob("*.py") for name in _filters_of(p)}
    names["roles"] = {p.name for p in (root / "roles").iterdir() if p.is_dir()}
    names["playbooks"] = {p.stem for p in (root / "playbooks").glob("*.yml")}
    return names


def test_every_own_reference_resolves_inside_the_tarball(shipped):
    """A role, module, filter, lookup or doc fragment of ours named by shipped content ships."""
    names = _own_plugin_names(shipped)
    known = set().union(*names.values())
    own = re.compile(r"(?<![\w.])zeromq\.openstack\.([a-z_][a-z0-9_]*)\b(?!\.)")
    unresolved = []
    for path in _files(shipped, ("roles", "playbooks", "inventories"), (".yml", ".yaml", ".j2")):
        for match in own.finditer(path.read_text(encoding="utf-8")):
            if match.group(1) not in known:
                unresolved.append(f"{path.relative_to(shipped)}: {match.group(0)}")
    imports = re.compile(r"ansible_collections\.zeromq\.openstack\.plugins\.(\w+)\.(\w+)")
    fragments = re.compile(r"^\s*-\s+zeromq\.openstack\.(\w+)\s*$", re.MULTILINE)
    for path in _files(shipped, ("plugins",), (".py",)):
        text = path.read_text(encoding="utf-8")
        for kind, name in imports.findall(text):
            if name not in names.get(kind, set()):
                unresolved.append(f"{path.relative_to(shipped)}: plugins/{kind}/{name}")
        for name in fragments.findall(text):
            if name not in names["doc_fragments"]:
                unresolved.append(f"{path.relative_to(shipped)}: doc fragment {name}")
    assert unresolved == [], "shipped content refers to what is not shipped:\n" + "\n".join(
        unresolved
    )


def test_shipped_playbook_imports_resolve(shipped):
    missing = []
    for playbook in sorted((shipped / "playbooks").glob("*.yml")):
        for play in yaml.safe_load(playbook.read_text()) or []:
            target = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
            if target and not (playbook.parent / target).is_file():
                missing.append(f"{playbook.name} imports {target}")
    assert missing == [], f"shipped playbooks import what is not shipped: {missing}"


def test_nothing_shipped_needs_the_lab_scaffolding(shipped):
    """No shipped file names the lab's connection plugin, a lab role or tests/."""
    scaffolding = re.compile(r"lab_nsenter|zeromq\.openstack\.lab_\w+|tests/lab\b")
    hits = [
        f"{path.relative_to(shipped)}: {match.group(0)}"
        for path in _files(
            shipped,
            ("roles", "playbooks", "plugins", "inventories", "meta"),
            (".yml", ".yaml", ".j2", ".py"),
        )
        for match in scaffolding.finditer(path.read_text(encoding="utf-8"))
    ]
    assert hits == [], "shipped content depends on lab scaffolding:\n" + "\n".join(hits)


def test_dependencies_are_the_collections_the_shipped_content_uses(shipped):
    used = _collections_used(shipped)
    declared = set(_galaxy().get("dependencies") or {})
    undeclared = sorted(
        f"{fqcn} (used in {where})" for fqcn, where in used.items() if fqcn not in declared
    )
    unused = sorted(declared - set(used))
    assert undeclared == [], f"galaxy.yml dependencies lacks: {undeclared}"
    assert unused == [], f"galaxy.yml declares collections nothing shipped uses: {unused}"


def test_the_dependency_scan_finds_uses(tmp_path):
    """The scan itself: each way of using a collection is seen, and prose or paths are not."""
    tasks = tmp_path / "roles" / "r" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text(
        """\
- name: A module
  community.general.ini_file: {path: /x}
- name: A filter and a lookup
  ansible.builtin.debug:
    msg: "{{ x | ansible.utils.ipaddr }} {{ lookup('community.hashi_vault.read', 'x') }}"
- name: A role
  ansible.builtin.include_role:
    name: geerlingguy.mysql.server
- name: Not a use
  ansible.builtin.command: python3 -c 'import os; os.path.join("a")'
  when: item.stat.exists
"""
    )
    plugin = tmp_path / "plugins" / "modules"
    plugin.mkdir(parents=True)
    (plugin / "m.py").write_text(
        "from ansible_collections.ansible.posix.plugins.module_utils import x\n"
        "from ansible_collections.zeromq.openstack.plugins.module_utils import y\n"
        'DOCUMENTATION = "as M(community.mysql.mysql_db) does"\n'
    )
    assert set(_collections_used(tmp_path)) == {
        "community.general",
        "ansible.utils",
        "community.hashi_vault",
        "geerlingguy.mysql",
        "ansible.posix",
    }


def test_the_ansible_package_satisfies_the_dependencies():
    """Galaxy is unreachable: the collections the ansible package bundles must do."""
    import ansible_collections
    from ansible.galaxy.dependency_resolution.versioning import meets_requirements

    unmet = []
    for fqcn, spec in (_galaxy().get("dependencies") or {}).items():
        manifests = [
            Path(root, *fqcn.split("."), "MANIFEST.json") for root in ansible_collections.__path__
        ]
        found = [m for m in manifests if m.is_file()]
        if not found:
            unmet.append(f"{fqcn}: not installed with ansible")
            continue
        version = json.loads(found[0].read_text())["collection_info"]["version"]
        if not meets_requirements(version, spec):
            unmet.append(f"{fqcn}: ansible bundles {version}, galaxy.yml wants {spec}")
    assert unmet == [], f"dependencies the installed ansible package does not meet: {unmet}"


def test_dependency_ranges_are_version_ranges():
    for fqcn, spec in (_galaxy().get("dependencies") or {}).items():
        assert isinstance(spec, str) and re.fullmatch(
            r"(?:[<>=!]=?\d+\.\d+\.\d+)(?:,[<>=!]=?\d+\.\d+\.\d+)*|\*", spec
        ), f"{fqcn}: '{spec}' is not a version range like '>=2.0.0,<3.0.0'"


def test_runtime_requires_ansible_is_set():
    runtime = yaml.safe_load((TOP / "meta" / "runtime.yml").read_text())
    spec = runtime.get("requires_ansible", "")
    assert re.fullmatch(r">=2\.\d+(\.\d+)?(,<\d+\.\d+(\.\d+)?)?", spec), (
        f"meta/runtime.yml requires_ansible '{spec}' is not a range like '>=2.17.0'"
    )
