#!/usr/bin/env python3
"""Prints, one per line, the GPIO line names a site file's `hardware:` section refers to.

Usage: site_lines.py ZONES_YAML
Exit status: 0 and the names if the file has a `hardware:` section; 3 (and nothing on stdout) if
it has none; 2 if the file cannot be read or parsed.

The section's schema belongs to the config loader (daemon/config/hardware_section.cpp): lines are
named by doors.<id>.{strike,sensor,rex,buzzer,reader_power}, gates.<id>.{clear,alarm}, fire,
tamper.<id>, and the keys of `lines:`; `readers`, `gpio` and `nfc` hold settings. Keys this helper
does not know (a later schema) are walked with a heuristic: every string value that is a valid
line name, leaving out what is plainly something else: reader connection strings (they hold ':' or
'/'), durations ("20ms"), numbers, booleans, and the values of keys that hold settings.
"""
import re
import sys

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
DURATION = re.compile(r"^[0-9]+(ms|s|m|h)$")
NUMBER = re.compile(r"^[0-9]+$")
# Keys whose values are settings, not line names.
SETTING_KEYS = {
    "active_low", "bias", "chip", "connstring", "consumer", "credential", "debounce", "device",
    "direction", "drive", "edge", "initial", "initial_active", "level", "mode", "nfc", "off_time",
    "polarity", "pull", "reader", "readers", "side", "type", "uart", "kind", "driver", "id",
    "name", "door", "gate", "zone", "description", "gpio", "master_key_file", "application",
    "key_number", "system_identifier", "poll_interval", "hung_timeout",
}


def load(path):
    try:
        import yaml  # python3-yaml (Debian), present on the project's machines
    except ImportError:
        return load_fallback(path)
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict):
        return None
    return doc.get("hardware")


def load_fallback(path):
    """Without PyYAML: the `hardware:` block's scalars, as (key, value) pairs (block style only)."""
    pairs = []
    inside = found = False
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.split(" #", 1)[0].rstrip()
            if not line or line.lstrip().startswith("#"):
                continue
            if not line[0].isspace():
                inside = line.startswith("hardware:")
                found = found or inside
                continue
            if not inside:
                continue
            body = line.strip().lstrip("- ").strip()
            for piece in re.split(r"[{},\[\]]", body):
                piece = piece.strip()
                if not piece:
                    continue
                key, sep, value = piece.partition(":")
                if sep and value.strip() and "/" not in key:
                    pairs.append((key.strip(), value.strip().strip("'\"")))
                elif not sep:
                    pairs.append(("", piece.strip("'\"")))
    return pairs if found else None


DOOR_LINE_KEYS = ("strike", "sensor", "rex", "buzzer", "reader_power")
GATE_LINE_KEYS = ("clear", "alarm")
SETTINGS_SECTIONS = ("readers", "gpio", "nfc")


def from_schema(section, out):
    """Names from the known keys of the section; unknown keys go through walk()."""
    for key, node in section.items():
        if key in SETTINGS_SECTIONS:
            continue
        if key == "doors" and isinstance(node, dict):
            for door in node.values():
                if isinstance(door, dict):
                    for k in DOOR_LINE_KEYS:
                        if isinstance(door.get(k), str):
                            take("line", door[k], out)
        elif key == "gates" and isinstance(node, dict):
            for gate in node.values():
                if isinstance(gate, dict):
                    for k in GATE_LINE_KEYS:
                        if isinstance(gate.get(k), str):
                            take("line", gate[k], out)
        elif key == "fire" and isinstance(node, str):
            take("line", node, out)
        elif key == "tamper":
            walk(node, "line", out)
        elif key == "lines" and isinstance(node, dict):
            for name in node:
                take("line", str(name), out)
        else:
            walk(node, str(key), out)


def walk(node, key, out):
    if isinstance(node, dict):
        for k, v in node.items():
            walk(v, str(k), out)
    elif isinstance(node, list):
        for v in node:
            walk(v, key, out)
    elif isinstance(node, str):
        take(key, node, out)


def take(key, value, out):
    k = key.lower()
    if "line" not in k and k in SETTING_KEYS:
        return
    if not NAME.match(value) or DURATION.match(value) or NUMBER.match(value):
        return
    if value.lower() in {"true", "false", "yes", "no", "on", "off", "high", "low"}:
        return
    if value not in out:
        out.append(value)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        section = load(sys.argv[1])
    except Exception as e:  # noqa: BLE001 - any parse failure is reported the same way
        print(f"site_lines.py: cannot read {sys.argv[1]}: {e}", file=sys.stderr)
        return 2
    if section is None:
        return 3
    names = []
    if isinstance(section, list) and section and isinstance(section[0], tuple):
        for k, v in section:
            take(k, v, names)
    elif isinstance(section, dict):
        from_schema(section, names)
    else:
        walk(section, "", names)
    for n in names:
        print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
