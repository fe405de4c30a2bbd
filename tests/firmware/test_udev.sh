#!/usr/bin/env bash
# Checks firmware/udev/60-zonegate.rules.
#
# 1. A lint (python3): every rule line parses as KEY[{attr}]OP"value" pairs with a known key and an
#    operator valid for it; every GOTO has its LABEL; no rule runs a program (RUN/PROGRAM/IMPORT
#    {program}); no node is made accessible to others (MODE without world bits); /dev/gpiochip*
#    goes to group gpio and every reader node to group dialout, both 0660; reader symlinks are
#    zonegate/reader-<door>-<in|out>, unique, and name doors that exist in zones.yaml; each door of
#    the sample site has both readers; reader paths named in zones.yaml's `hardware:` section (if
#    any) are provided by a rule.
# 2. If udevadm is installed and this runs as root: udevd's own parser loads the file (in a private
#    mount namespace, so the host's rules and groups are untouched) and must report nothing about
#    it. systemd 252 has no `udevadm verify`; `udevadm test` parses all rules before it looks at the
#    device, so it is pointed at a device that does not exist. Skipped (not failed) otherwise.
# Usage: tests/firmware/test_udev.sh [REPO_ROOT]   (default: two directories up)
# Exit: 0 pass or skip (a line starting "SKIP:"), 1 failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "${1:-$here/../..}" && pwd)"
rules="$root/firmware/udev/60-zonegate.rules"

command -v python3 >/dev/null || {
  echo "SKIP: python3 not installed"
  exit 0
}
[[ -f "$rules" ]] || {
  echo "FAIL - $rules does not exist"
  exit 1
}

passes=0
fails=0

# --- 1. lint -------------------------------------------------------------------------------------
lint_out="$(python3 - "$rules" "$root/zones.yaml" <<'EOF'
import re
import sys

rules_path, site_path = sys.argv[1], sys.argv[2]
MATCH = {"ACTION", "DEVPATH", "KERNEL", "KERNELS", "NAME", "SYMLINK", "SUBSYSTEM", "SUBSYSTEMS",
         "DRIVER", "DRIVERS", "ATTR", "ATTRS", "SYSCTL", "TAG", "TAGS", "ENV", "CONST", "TEST",
         "RESULT", "PROGRAM"}
ASSIGN = {"NAME", "SYMLINK", "OWNER", "GROUP", "MODE", "SECLABEL", "ATTR", "SYSCTL", "ENV", "TAG",
          "RUN", "LABEL", "GOTO", "IMPORT", "OPTIONS"}
FORBIDDEN = {"RUN", "PROGRAM"}
TOKEN = re.compile(r'\s*([A-Z_]+)(\{[^}]*\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')

problems, checks = [], []
def problem(where, msg):
    problems.append(f"{where}: {msg}")

# Join continuation lines, keep the number of the first physical line.
logical, buf, start = [], "", 0
with open(rules_path, encoding="utf-8") as f:
    for n, raw in enumerate(f, 1):
        line = raw.rstrip("\n")
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        logical.append((start, buf))
        buf = ""

parsed = []
for n, text in logical:
    s = text.strip()
    if not s or s.startswith("#"):
        continue
    where = f"{rules_path.rsplit('/', 1)[-1]}:{n}"
    pos, toks = 0, []
    while pos < len(s):
        m = TOKEN.match(s, pos)
        if not m:
            problem(where, f"cannot parse near: {s[pos:pos + 40]!r}")
            break
        key, attr, op, value, _ = m.groups()
        toks.append((key, attr or "", op, value))
        pos = m.end()
    for key, attr, op, value in toks:
        is_match = op in ("==", "!=")
        if key in FORBIDDEN or (key == "IMPORT" and attr.startswith("{program")):
            problem(where, f"{key} runs a program; these rules must stay declarative")
        elif is_match and key not in MATCH:
            problem(where, f"{key} cannot be matched (operator {op})")
        elif not is_match and key not in ASSIGN:
            problem(where, f"{key} cannot be assigned (operator {op})")
        if key in ("ATTR", "ATTRS", "ENV") and not attr:
            problem(where, f"{key} needs {{name}}")
        if key == "MODE" and not is_match:
            if not re.fullmatch(r"0?[0-7]{3}", value):
                problem(where, f"MODE {value!r} is not an octal mode")
            elif int(value, 8) & 0o007:
                problem(where, f"MODE {value} gives access to everyone; 0660 at most")
    parsed.append((where, toks))
checks.append("every rule line parses, with known keys and valid operators")
checks.append("no rule runs a program, no MODE with world bits")

labels = {v for _, t in parsed for k, _, op, v in t if k == "LABEL"}
for where, t in parsed:
    for k, _, _, v in t:
        if k == "GOTO" and v not in labels:
            problem(where, f"GOTO {v!r} has no LABEL")
checks.append("every GOTO has its LABEL")

def get(t, key, attr=""):
    return [v for k, a, op, v in t if k == key and a == attr and op not in ("==", "!=")]
def matches(t, key):
    return [v for k, a, op, v in t if k == key and op == "=="]

gpio_rules = [(w, t) for w, t in parsed if any("gpiochip" in v for v in matches(t, "KERNEL"))]
if not gpio_rules:
    problem("rules", "no rule for /dev/gpiochip*")
for where, t in gpio_rules:
    if matches(t, "SUBSYSTEM") != ["gpio"]:
        problem(where, 'gpiochip rule must match SUBSYSTEM=="gpio"')
    if get(t, "GROUP") != ["gpio"] or get(t, "MODE") != ["0660"]:
        problem(where, 'gpiochip nodes must get GROUP="gpio", MODE="0660"')
checks.append('/dev/gpiochip* -> GROUP="gpio" MODE="0660"')

READER = re.compile(r"^zonegate/reader-([A-Za-z0-9_-]+)-(in|out)$")
links = {}
for where, t in parsed:
    for link in get(t, "SYMLINK"):
        m = READER.match(link)
        if not m:
            problem(where, f"symlink {link!r} is not zonegate/reader-<door>-<in|out>")
            continue
        if link in links:
            problem(where, f"symlink {link!r} already made at {links[link]}")
        links[link] = where
        if matches(t, "SUBSYSTEM") != ["tty"]:
            problem(where, f'{link}: rule must match SUBSYSTEM=="tty"')
        if get(t, "GROUP") != ["dialout"] or get(t, "MODE") != ["0660"]:
            problem(where, f'{link}: reader nodes must get GROUP="dialout", MODE="0660"')
        kernel = matches(t, "KERNEL")
        if not kernel:
            problem(where, f"{link}: rule must name the kernel device (KERNEL==)")
        elif kernel[0].startswith("ttyUSB") or kernel[0].startswith("ttyACM"):
            ids = {k for k, a, op, v in t if op == "==" and (k, a) in
                   (("ATTRS", "{serial}"), ("ENV", "{ID_PATH}"), ("KERNELS", ""))}
            if not ids:
                problem(where, f"{link}: a USB adapter must be matched by serial number or port")
checks.append(f"{len(links)} reader symlinks zonegate/reader-<door>-<in|out>, unique, tty, "
              'GROUP="dialout" MODE="0660", USB ones pinned by serial or port')

try:
    import yaml
    with open(site_path, encoding="utf-8") as f:
        site = yaml.safe_load(f) or {}
except ImportError:
    site = None
if site is None:
    checks.append("(PyYAML missing: reader/door cross-check with zones.yaml skipped)")
else:
    doors = set((site.get("doors") or {}).keys())
    for link, where in links.items():
        door = READER.match(link).group(1)
        if door not in doors:
            problem(where, f"{link}: no door {door!r} in zones.yaml (doors: {sorted(doors)})")
    for door in sorted(doors):
        for side in ("in", "out"):
            if f"zonegate/reader-{door}-{side}" not in links:
                problem("rules", f"no reader symlink for door {door!r}, side {side}")
    checks.append(f"readers match the doors of zones.yaml ({', '.join(sorted(doors))}), both sides")
    wanted = set()
    def walk(node):
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str) and "/dev/zonegate/" in node:
            wanted.add(node.split("/dev/", 1)[1])
    walk(site.get("hardware"))
    for w in sorted(wanted - set(links)):
        problem("rules", f"zones.yaml's hardware section uses /dev/{w}, which no rule creates")
    if "hardware" in site:
        checks.append(f"the {len(wanted)} reader paths of zones.yaml's hardware section exist")

for c in checks:
    print(f"  checked: {c}")
for p in problems:
    print(f"FAIL - {p}")
sys.exit(1 if problems else 0)
EOF
)" && lint_rc=0 || lint_rc=$?
echo "$lint_out"
if ((lint_rc == 0)); then
  passes=$((passes + 1))
  echo "ok   - lint of $rules"
else
  fails=$((fails + 1))
  echo "FAIL - lint of $rules"
fi

# --- 2. udevd's own parser -----------------------------------------------------------------------
if ! command -v udevadm >/dev/null; then
  echo "SKIP: udevadm not installed (apt-get install udev): rules not loaded by udev's parser"
elif [[ $(id -u) -ne 0 ]] || ! command -v unshare >/dev/null; then
  echo "SKIP: needs root and unshare to load the rules in a private mount namespace"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/rules.d"
  cp "$rules" "$work/rules.d/"
  # The gateway has the gpio group (zonegate.sysusers); this machine may not: add it to a copy of
  # /etc/group seen only inside the namespace.
  cp /etc/group "$work/group"
  grep -q '^gpio:' "$work/group" || echo 'gpio:x:64999:' >>"$work/group"
  grep -q '^dialout:' "$work/group" || echo 'dialout:x:20:' >>"$work/group"
  # shellcheck disable=SC2016 # expanded by the inner shell
  if parse_out="$(unshare -m --propagation private bash -c '
      mount --bind "$1/rules.d" /etc/udev/rules.d && mount --bind "$1/group" /etc/group &&
      udevadm test --action=add /sys/devices/zonegate-no-such-device 2>&1' _ "$work")"; then :; fi
  if ! grep -q "Reading rules file: /etc/udev/rules.d/60-zonegate.rules" <<<"$parse_out"; then
    echo "SKIP: could not make udevadm read the rules in a private namespace"
    echo "$parse_out" | tail -n 5
  else
    complaints="$(grep -E '^/etc/udev/rules.d/60-zonegate.rules:[0-9]+ ' <<<"$parse_out" || true)"
    if [[ -z "$complaints" ]]; then
      passes=$((passes + 1))
      echo "ok   - udevadm ($(udevadm --version)) loads 60-zonegate.rules without a complaint"
    else
      fails=$((fails + 1))
      echo "FAIL - udevadm complains about 60-zonegate.rules:"
      echo "$complaints"
    fi
  fi
fi

echo "test_udev: ${passes} passed, ${fails} failed"
((fails == 0))
