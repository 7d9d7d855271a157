"""Create the lab's shared tenant network and its subnet, idempotently, through openstacksdk.

Reads JSON on stdin: {"cloud": "lab", "network": {"name": "lab-net", "shared": true},
"subnet": {"name": "lab-subnet", "cidr": "10.0.0.0/24", "enable_dhcp": false}}.
The network gets no provider attributes: ML2 allocates its segment from the first tenant
network type. Prints {"changed": bool, "actions": [...], "network": {...}} on stdout.
"""

import json
import sys

import openstack


def ensure_network(conn: openstack.connection.Connection, spec: dict, actions: list) -> dict:
    """The network named spec["name"], created (or shared) when needed."""
    net = conn.network.find_network(spec["name"])
    shared = bool(spec.get("shared", True))
    if net is None:
        net = conn.network.create_network(name=spec["name"], shared=shared)
        actions.append(f"network {spec['name']}")
    elif net.is_shared != shared:
        net = conn.network.update_network(net, shared=shared)
        actions.append(f"network {spec['name']} shared={shared}")
    return net


def ensure_subnet(conn: openstack.connection.Connection, net, spec: dict, actions: list):
    """The subnet named spec["name"] on net, created when missing, DHCP set as wanted."""
    subnet = next(conn.network.subnets(network_id=net.id, name=spec["name"]), None)
    dhcp = bool(spec.get("enable_dhcp", False))
    if subnet is None:
        subnet = conn.network.create_subnet(
            network_id=net.id,
            name=spec["name"],
            ip_version=4,
            cidr=spec["cidr"],
            is_dhcp_enabled=dhcp,
        )
        actions.append(f"subnet {spec['name']}")
    elif subnet.cidr != spec["cidr"]:
        raise SystemExit(
            f"subnet {spec['name']} has {subnet.cidr}, not {spec['cidr']}: delete it to change it"
        )
    elif subnet.is_dhcp_enabled != dhcp:
        subnet = conn.network.update_subnet(subnet, is_dhcp_enabled=dhcp)
        actions.append(f"subnet {spec['name']} dhcp={dhcp}")
    return subnet


def main() -> int:
    spec = json.load(sys.stdin)
    conn = openstack.connect(cloud=spec["cloud"])
    actions: list = []
    net = ensure_network(conn, spec["network"], actions)
    subnet = ensure_subnet(conn, net, spec["subnet"], actions)
    result = {
        "changed": bool(actions),
        "actions": actions,
        "network": {
            "id": net.id,
            "name": net.name,
            "network_type": net.provider_network_type,
            "segmentation_id": net.provider_segmentation_id,
            "subnet": subnet.cidr,
        },
    }
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
