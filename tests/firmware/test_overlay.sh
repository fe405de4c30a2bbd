#!/usr/bin/env bash
# Compiles firmware/dts/zonegate-gpio-overlay.dts and checks that it names every GPIO line the
# sample site needs, exactly once, on a 58-line controller, and that it applies to a base tree.
#
# The names needed are read from the `hardware:` section of zones.yaml (tests/firmware/
# site_lines.py); while zones.yaml has no such section, the built-in list below is used.
# Needs dtc, fdtget and fdtoverlay (Debian: device-tree-compiler); skips cleanly without them.
# Usage: tests/firmware/test_overlay.sh [REPO_ROOT]   (default: two directories up)
# Exit: 0 pass or skip (a line starting "SKIP:"), 1 failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "${1:-$here/../..}" && pwd)"
dts="$root/firmware/dts/zonegate-gpio-overlay.dts"
site="$root/zones.yaml"
ngpio=58 # lines of the example board's controller (BCM2711)

# The sample site's lines, used while zones.yaml has no hardware section.
builtin_lines=(
  lobby-strike lobby-door-contact lobby-rex lobby-reader-power
  view-door-strike view-door-contact view-door-reader-power
  ops-door-strike ops-door-contact ops-door-reader-power
  view-gate-clear view-gate-alarm ops-gate-clear ops-gate-alarm
  fire-panel-relay cabinet-lid-switch
)

skip() {
  echo "SKIP: $*"
  exit 0
}
passes=0
fails=0
check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then
    echo "ok   - $1"
    passes=$((passes + 1))
  else
    echo "FAIL - $1"
    fails=$((fails + 1))
  fi
}

for tool in dtc fdtget fdtoverlay; do
  command -v "$tool" >/dev/null || skip "$tool not installed (apt-get install device-tree-compiler)"
done
command -v python3 >/dev/null || skip "python3 not installed"
[[ -f "$dts" ]] || {
  echo "FAIL - $dts does not exist"
  exit 1
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1. It compiles, with symbols (-@) so that its &gpio reference is resolved when applied.
check "overlay compiles: dtc -@ -I dts -O dtb" \
  dtc -@ -q -I dts -O dtb -o "$work/zonegate-gpio.dtbo" "$dts"
[[ -f "$work/zonegate-gpio.dtbo" ]] || exit 1

# Splits a property of string-list type, read as bytes, into one string per line ("" kept).
strings_of() { # strings_of DTB NODE PROPERTY
  fdtget -t bx "$1" "$2" "$3" | python3 -c '
import sys
data = bytes(int(b, 16) for b in sys.stdin.read().split())
assert data.endswith(b"\0"), "string list does not end with NUL"
for s in data[:-1].split(b"\0"):
    print(s.decode("ascii"))
'
}

mapfile -t names < <(strings_of "$work/zonegate-gpio.dtbo" /fragment@0/__overlay__ gpio-line-names)
named=()
for n in "${names[@]}"; do [[ -z "$n" ]] || named+=("$n"); done
echo "overlay: ${#names[@]} lines, ${#named[@]} named: ${named[*]}"

targets_gpio_label() { [[ "$(fdtget "$1" /__fixups__ gpio 2>/dev/null)" == "/fragment@0:target:0" ]]; }
check "the overlay's fragment targets a label (&gpio), resolved through __fixups__" \
  targets_gpio_label "$work/zonegate-gpio.dtbo"
check "gpio-line-names has exactly $ngpio entries, one per line of the controller" \
  test "${#names[@]}" -eq "$ngpio"

dups="$(printf '%s\n' "${names[@]}" | grep -v '^$' | sort | uniq -d)"
check "no line name is used twice${dups:+ (duplicates: ${dups//$'\n'/ })}" test -z "$dups"

# 2. Every line the site needs is named.
set +e
site_names="$(python3 "$here/site_lines.py" "$site")"
rc=$?
set -e
case $rc in
  0)
    mapfile -t needed <<<"$site_names"
    source_desc="zones.yaml hardware section"
    ;;
  3)
    needed=("${builtin_lines[@]}")
    source_desc="built-in list (zones.yaml has no hardware section yet)"
    ;;
  *)
    echo "FAIL - could not read the line names of $site"
    exit 1
    ;;
esac
# An empty hardware section names nothing; that is not a pass of this check.
if ((${#needed[@]} == 0)) || [[ -z "${needed[0]}" ]]; then
  needed=("${builtin_lines[@]}")
  source_desc="built-in list (zones.yaml's hardware section names no line)"
fi
echo "lines needed (${#needed[@]}, from the $source_desc): ${needed[*]}"
missing=()
for n in "${needed[@]}"; do
  printf '%s\n' "${names[@]}" | grep -qxF -- "$n" || missing+=("$n")
done
check "every needed line is named in the overlay${missing[*]:+ (missing: ${missing[*]})}" \
  test "${#missing[@]}" -eq 0

# 3. It applies: merge it into a minimal base tree that has a `gpio` label, as a bootloader (or
# fdtoverlay at image build time) does, and read the names back from the merged tree.
cat >"$work/base.dts" <<'EOF'
/dts-v1/;
/ {
	compatible = "brcm,bcm2711";
	#address-cells = <1>;
	#size-cells = <1>;
	soc {
		#address-cells = <1>;
		#size-cells = <1>;
		gpio: gpio@7e200000 {
			compatible = "brcm,bcm2711-gpio";
			reg = <0x7e200000 0xb4>;
			gpio-controller;
			#gpio-cells = <2>;
			gpio-line-names = "base-name-0", "base-name-1";
		};
	};
};
EOF
dtc -@ -q -I dts -O dtb -o "$work/base.dtb" "$work/base.dts"
check "fdtoverlay applies the overlay to a base tree with a gpio label" \
  fdtoverlay -i "$work/base.dtb" -o "$work/merged.dtb" "$work/zonegate-gpio.dtbo"
if [[ -f "$work/merged.dtb" ]]; then
  mapfile -t merged < <(strings_of "$work/merged.dtb" /soc/gpio@7e200000 gpio-line-names)
  check "the merged controller node carries the overlay's $ngpio names" \
    test "$(printf '%s\n' "${merged[@]}")" = "$(printf '%s\n' "${names[@]}")"
fi

echo "test_overlay: ${passes} passed, ${fails} failed"
((fails == 0))
