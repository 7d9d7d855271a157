"""Register one lab service in keystone, idempotently, through openstacksdk.

Reads JSON on stdin: {"auth": {...openstack.connect() auth...}, "region": "RegionOne",
"services": [{"name", "type", "description", "endpoints": {"public": url, ...}}],
"user": {"name", "password"} (optional), "roles": ["admin", "service"], "project": "service"}.
Prints {"changed": bool, "actions": [...]} on stdout. Passwords never appear in the output.
"""

import json
import sys

import openstack
from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1 import session
from keystoneauth1.identity import v3


def _password_works(auth_url: str, name: str, password: str, project: str) -> bool:
    auth = v3.Password(
        auth_url=auth_url,
        username=name,
        password=password,
        user_domain_id="default",
        project_name=project,
        project_domain_id="default",
    )
    try:
        session.Session(auth=auth).get_token()
    except ksa_exc.Unauthorized:
        return False
    return True


def main() -> int:
    spec = json.load(sys.stdin)
    conn = openstack.connect(**spec["auth"])
    ident = conn.identity
    actions = []
    region = spec.get("region", "RegionOne")
    project_name = spec.get("project", "service")

    project = ident.find_project(project_name, domain_id="default")
    if project is None:
        project = ident.create_project(name=project_name, domain_id="default")
        actions.append(f"project {project_name}")

    for svc in spec.get("services", []):
        service = next(
            (s for s in ident.services() if s.name == svc["name"] and s.type == svc["type"]), None
        )
        if service is None:
            service = ident.create_service(
                name=svc["name"], type=svc["type"], description=svc.get("description", "")
            )
            actions.append(f"service {svc['name']}")
        existing = {
            e.interface: e for e in ident.endpoints(service_id=service.id) if e.region_id == region
        }
        for interface, url in svc.get("endpoints", {}).items():
            ep = existing.get(interface)
            if ep is None:
                ident.create_endpoint(
                    service_id=service.id, interface=interface, url=url, region_id=region
                )
                actions.append(f"endpoint {svc['name']} {interface}")
            elif ep.url != url:
                ident.update_endpoint(ep, url=url)
                actions.append(f"endpoint {svc['name']} {interface} url")

    user_spec = spec.get("user")
    if user_spec:
        user = ident.find_user(user_spec["name"], domain_id="default")
        if user is None:
            user = ident.create_user(
                name=user_spec["name"],
                password=user_spec["password"],
                domain_id="default",
                default_project_id=project.id,
            )
            actions.append(f"user {user_spec['name']}")
        for role_name in spec.get("roles", []):
            role = ident.find_role(role_name)
            if role is None:
                role = ident.create_role(name=role_name)
                actions.append(f"role {role_name}")
            assigned = list(
                ident.role_assignments(
                    user_id=user.id, scope_project_id=project.id, role_id=role.id
                )
            )
            if not assigned:
                ident.assign_project_role_to_user(project, user, role)
                actions.append(f"role {role_name} for {user_spec['name']}")
        if "user " + user_spec["name"] not in actions and not _password_works(
            spec["auth"]["auth_url"], user_spec["name"], user_spec["password"], project_name
        ):
            ident.update_user(user, password=user_spec["password"])
            actions.append(f"password of {user_spec['name']}")

    json.dump({"changed": bool(actions), "actions": actions}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
