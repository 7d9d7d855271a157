"""A stand-in for nova-manage's cell_v2 list_cells / update_cell (nova 31 behaviour).

State (the cell mappings) lives in a JSON file named by STATE below, which the test writes
into a copy of this script. Output imitates prettytable's centred columns.
"""

import configparser
import json
import sys

STATE = "@STATE@"


def load():
    with open(STATE) as handle:
        return json.load(handle)


def table(cells):
    header = ["Name", "UUID", "Transport URL", "Database Connection", "Disabled"]
    rows = [
        [c["name"], c["uuid"], c["transport_url"], c["database_connection"], str(c["disabled"])]
        for c in sorted(cells, key=lambda c: c["name"])
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) + 2 for i in range(len(header))]
    border = "+" + "+".join("-" * w for w in widths) + "+"
    out = [
        border,
        "|" + "|".join(h.center(w) for h, w in zip(header, widths, strict=True)) + "|",
        border,
    ]
    out += ["|" + "|".join(v.center(w) for v, w in zip(r, widths, strict=True)) + "|" for r in rows]
    out.append(border)
    return "\n".join(out)


def main(argv):
    configs = []
    while argv and argv[0] == "--config-file":
        configs.append(argv[1])
        argv = argv[2:]
    state = load()
    state["calls"].append({"args": argv, "configs": configs})
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(configs)
    if argv[:2] == ["cell_v2", "list_cells"]:
        print(table(state["cells"]))
    elif argv[:2] == ["cell_v2", "update_cell"]:
        uuid = argv[argv.index("--cell_uuid") + 1]
        url = conf.get("DEFAULT", "transport_url").replace("$$", "$")
        state["calls"][-1]["database_connection"] = conf.get("database", "connection")
        cell = next((c for c in state["cells"] if c["uuid"] == uuid), None)
        if cell is None:
            print(f"Cell with uuid {uuid} was not found.")
            code = 1
        elif any(c["transport_url"] == url for c in state["cells"] if c is not cell):
            print("The specified transport_url and/or database_connection combination exists")
            code = 3
        else:
            print(
                "--transport-url not provided in the command line, using the value "
                "[DEFAULT]/transport_url from the configuration file"
            )
            cell["transport_url"] = url
            code = 0
        with open(STATE, "w") as handle:
            json.dump(state, handle)
        return code
    with open(STATE, "w") as handle:
        json.dump(state, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
