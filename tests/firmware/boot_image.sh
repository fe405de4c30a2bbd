#!/usr/bin/env bash
# Boots the gateway image and checks, from inside, that zonegated runs under its sandbox.
#
# Builds the image with firmware/image/build-image.sh for this machine (amd64), adding Debian's
# kernel and a self-test unit, writes it to two disks labelled zg-root and zg-var exactly as the
# image's /etc/fstab expects, boots them in QEMU (software emulation: `-accel tcg -cpu max`), and
# reads the self-test's verdict from the serial console. The self-test checks: / mounted read-only
# and /var read-write; zonegated active and ready (sd_notify STATUS) with no restart, also after
# more than two watchdog periods (so its WATCHDOG=1 pings arrive) and after `systemctl reload`
# (SIGHUP, same PID); it runs as zonegate with the gpio and dialout groups, no capabilities,
# no_new_privs and a seccomp filter; /var/lib/zonegate is 0700; no "Operation not permitted" from
# the daemon (a system call the filter refuses); and prints the live `systemd-analyze security`.
#
# Not part of the default test run: needs root, mmdebstrap, a Debian mirror, QEMU and about 20
# minutes (the build) plus 4 (the boot). Skips cleanly (exit 0, "SKIP:") without them. Debian
# packages: mmdebstrap qemu-system-x86 e2fsprogs zstd device-tree-compiler, and zonegate's build
# dependencies.
# Usage: tests/firmware/boot_image.sh [REPO_ROOT]   (default: two directories up)
# Environment: ZONEGATE_BOOT_WORK (default /var/tmp/zonegate-boot), ZONEGATE_BUILD_DIR (a built
#   zonegate tree, passed as --build-dir), ZONEGATE_BOOT_REUSE=1 (reuse WORK/image/rootfs from an
#   earlier run, refreshing only the firmware/ files in it: seconds instead of minutes),
#   ZONEGATE_MIRROR (Debian mirror), BOOT_TIMEOUT (seconds for the guest, default 900).
# Exit: 0 pass or skip, 1 failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "${1:-$here/../..}" && pwd)"
work="${ZONEGATE_BOOT_WORK:-/var/tmp/zonegate-boot}"
timeout_s="${BOOT_TIMEOUT:-900}"

skip() {
  echo "SKIP: $*"
  exit 0
}
[[ $(id -u) -eq 0 ]] || skip "needs root (mmdebstrap, file ownership in the image)"
[[ "$(dpkg --print-architecture)" == amd64 ]] || skip "boots an amd64 image with qemu-system-x86_64"
for tool in qemu-system-x86_64 mkfs.ext4 mmdebstrap zstd dtc; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done

mkdir -p "$work"
image="$work/image"
rootfs="$image/rootfs"

# --- the self-test, copied into the image with --overlay ----------------------------------------
overlay="$work/overlay"
rm -rf "$overlay"
mkdir -p "$overlay/usr/local/sbin" "$overlay/etc/systemd/system/multi-user.target.wants"
cat >"$overlay/usr/local/sbin/zonegate-selftest" <<'EOF'
#!/bin/bash
# Runs once at boot in the test image; prints its findings and a verdict on the console.
fails=()
prop() { systemctl show -p "$1" --value zonegated; }
expect() { # expect WHAT ACTUAL WANTED
  if [[ "$2" == "$3" ]]; then echo "ok   - $1: $2"; else echo "FAIL - $1: $2 (want $3)"; fails+=("$1"); fi
}
for _ in $(seq 60); do [[ "$(prop ActiveState)" == active ]] && break; sleep 1; done
echo "=== ZG-SELFTEST BEGIN"
expect "/ mount" "$(findmnt -no OPTIONS / | cut -d, -f1)" ro
expect "/var mount" "$(findmnt -no OPTIONS /var | cut -d, -f1)" rw
expect "zonegated state" "$(prop ActiveState)/$(prop SubState)" active/running
echo "     status: $(prop StatusText)"
pid="$(prop MainPID)"
status="/proc/$pid/status"
expect "user" "$(stat -c %U "/proc/$pid")" zonegate
groups="$(id -Gn zonegate)"
expect "groups gpio and dialout" "$([[ " $groups " == *" gpio "* && " $groups " == *" dialout "* ]] && echo yes)" yes
expect "CapEff" "$(awk '/^CapEff/ {print $2}' "$status")" 0000000000000000
expect "CapBnd" "$(awk '/^CapBnd/ {print $2}' "$status")" 0000000000000000
expect "NoNewPrivs" "$(awk '/^NoNewPrivs/ {print $2}' "$status")" 1
expect "Seccomp (2 = filter)" "$(awk '/^Seccomp:/ {print $2}' "$status")" 2
expect "/var/lib/zonegate mode" "$(stat -c '%a %U' /var/lib/zonegate)" "700 zonegate"
echo "     waiting 25 s: more than two watchdog periods (WatchdogSec=$(prop WatchdogUSec))"
sleep 25
expect "restarts after the wait" "$(prop NRestarts)" 0
expect "same process after the wait" "$(prop MainPID)" "$pid"
systemctl reload zonegated
sleep 2
expect "state after reload" "$(prop ActiveState)/$(prop SubState)" active/running
expect "same process after reload" "$(prop MainPID)" "$pid"
denied="$(journalctl -b -u zonegated --no-pager | grep -c 'Operation not permitted')"
expect "EPERM in zonegated's journal" "$denied" 0
echo "--- journal"
journalctl -b -u zonegated --no-pager -o short-monotonic | tail -n 20
echo "--- live security score"
systemd-analyze security zonegated --no-pager | grep 'Overall exposure'
if ((${#fails[@]})); then
  echo "ZG-SELFTEST RESULT: FAIL (${fails[*]})"
else
  echo "ZG-SELFTEST RESULT: PASS"
fi
echo "=== ZG-SELFTEST END"
systemctl poweroff --no-block
EOF
chmod 0755 "$overlay/usr/local/sbin/zonegate-selftest"
cat >"$overlay/etc/systemd/system/zonegate-selftest.service" <<'EOF'
[Unit]
Description=zonegate image boot self-test (test images only)
After=zonegated.service multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/zonegate-selftest
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
EOF
ln -s ../zonegate-selftest.service \
  "$overlay/etc/systemd/system/multi-user.target.wants/zonegate-selftest.service"

# --- the image ----------------------------------------------------------------------------------
if [[ "${ZONEGATE_BOOT_REUSE:-0}" == 1 && -d "$rootfs/boot" ]]; then
  echo "boot_image: reusing $rootfs; refreshing the firmware/ files and the self-test in it"
  install -m 0644 "$root/firmware/systemd/zonegated.service" "$rootfs/usr/lib/systemd/system/"
  install -m 0644 "$root/firmware/systemd/zonegate.tmpfiles" "$rootfs/usr/lib/tmpfiles.d/zonegate.conf"
  install -m 0644 "$root/firmware/udev/60-zonegate.rules" "$rootfs/usr/lib/udev/rules.d/"
  cp -a "$overlay/." "$rootfs/"
else
  rm -rf --one-file-system "$rootfs"
  args=(--output "$image" --keep-rootfs --include linux-image-amd64 --overlay "$overlay")
  [[ -z "${ZONEGATE_BUILD_DIR:-}" ]] || args+=(--build-dir "$ZONEGATE_BUILD_DIR")
  [[ -z "${ZONEGATE_MIRROR:-}" ]] || args+=(--mirror "$ZONEGATE_MIRROR")
  echo "boot_image: building the image (minutes): build-image.sh ${args[*]}"
  bash "$root/firmware/image/build-image.sh" "${args[@]}" >"$work/build.log" 2>&1 || {
    tail -n 30 "$work/build.log"
    echo "FAIL - build-image.sh failed (log: $work/build.log)"
    exit 1
  }
fi
kernel="$(find "$rootfs/boot" -maxdepth 1 -name 'vmlinuz-*' | sort | tail -n 1)"
initrd="$(find "$rootfs/boot" -maxdepth 1 -name 'initrd.img-*' | sort | tail -n 1)"
[[ -n "$kernel" && -n "$initrd" ]] || {
  echo "FAIL - no kernel/initrd in $rootfs/boot"
  exit 1
}

# --- the disks, as the image's fstab wants them ---------------------------------------------------
rm -f "$work/root.img" "$work/var.img"
truncate -s 1500M "$work/root.img"
mkfs.ext4 -q -F -L zg-root -d "$rootfs" "$work/root.img"
truncate -s 512M "$work/var.img"
mkfs.ext4 -q -F -L zg-var -d "$rootfs/var" "$work/var.img"

# --- boot ----------------------------------------------------------------------------------------
echo "boot_image: booting (software emulation, a few minutes; console: $work/console.log)"
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 -nographic -no-reboot \
  -nic none -kernel "$kernel" -initrd "$initrd" \
  -drive "file=$work/root.img,format=raw,if=virtio" -drive "file=$work/var.img,format=raw,if=virtio" \
  -append "root=LABEL=zg-root ro console=ttyS0" </dev/null >"$work/console.log" 2>&1 || true

sed -n '/=== ZG-SELFTEST BEGIN/,/=== ZG-SELFTEST END/p' "$work/console.log" | tr -d '\r'
if grep -q "ZG-SELFTEST RESULT: PASS" "$work/console.log"; then
  echo "boot_image: 1 passed, 0 failed"
  exit 0
fi
grep -q "ZG-SELFTEST BEGIN" "$work/console.log" || tail -n 40 "$work/console.log"
echo "boot_image: 0 passed, 1 failed"
exit 1
