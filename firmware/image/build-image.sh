#!/usr/bin/env bash
# Builds the root file system of a zonegate gateway: minimal Debian 12 (bookworm) with zonegated,
# its hardened unit, sysusers/tmpfiles entries, udev rules, the GPIO device-tree overlay, the site
# configuration, persistent journald, chrony for time, and a layout that runs with / mounted
# read-only (everything written at run time lives under /var, /run or /tmp).
#
# Not part of any test run: it needs root, a Debian mirror (network or local) and minutes.
# Host packages (Debian 12): mmdebstrap cmake build-essential pkg-config device-tree-compiler zstd
#   systemd (systemd-sysusers, systemctl), plus zonegate's build dependencies
#   (tools/scripts/install-deps.sh build); for a foreign --arch also qemu-user-static and
#   binfmt-support (mmdebstrap runs the target's maintainer scripts under emulation).
#
# Usage: firmware/image/build-image.sh [OPTIONS]
#   --arch ARCH            Debian architecture of the gateway (default: this machine's, e.g. amd64;
#                          a CM4 gateway is arm64)
#   --build-dir DIR        an already built zonegate CMake tree for ARCH, installed with
#                          `cmake --install`; default: configure and build one in OUT/build (only
#                          possible when ARCH is this machine's architecture)
#   --site FILE            site configuration to install as /etc/zonegate/zones.yaml
#                          (default: the repository's zones.yaml); checked with `zonegate check`
#   --mirror URL           Debian mirror (default http://deb.debian.org/debian); a local mirror or
#                          file:// URL works for offline builds
#   --security-mirror URL  Debian security mirror (default http://deb.debian.org/debian-security);
#                          "none" to leave security updates out (only for a local mirror that
#                          already merges them)
#   --include PKGS         extra packages, comma-separated (kernel, boot firmware, openssh-server, ...)
#   --ntp-server HOST      a time server of the site, repeatable (replaces Debian's NTP pool)
#   --hostname NAME        host name (default zonegate-gw)
#   --overlay DIR          a directory copied over the root file system last (site network
#                          configuration, TLS material, SSH keys, ...)
#   --output DIR           where results go (default ./zonegate-image)
#   --keep-rootfs          keep the unpacked root file system in OUT/rootfs
#   --allow-missing-daemon build even though the zonegate install lacks the daemon the unit starts
#                          (the unit is then installed but not enabled); for work on the image itself
# Outputs in OUT/:
#   zonegate-rootfs-ARCH.tar.zst   the root file system (numeric owners, xattrs, ACLs)
#   zonegate-rootfs-ARCH.packages  Debian packages in it: name, version, architecture
#   zonegate-gpio.dtbo             the compiled overlay (also in the image, /usr/lib/zonegate/)
#   SHA256SUMS
# See firmware/README.md for how the result goes onto a gateway.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
fw="$repo/firmware"

arch="$(dpkg --print-architecture)"
host_arch="$arch"
build_dir=""
site="$repo/zones.yaml"
mirror="http://deb.debian.org/debian"
security_mirror="http://deb.debian.org/debian-security"
extra_packages=""
ntp_servers=()
hostname="zonegate-gw"
overlay=""
out="$PWD/zonegate-image"
keep_rootfs=0
allow_missing_daemon=0
suite=bookworm

die() {
  echo "build-image: $*" >&2
  exit 1
}
log() { echo "build-image: $*"; }
need_arg() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }

while (($#)); do
  case "$1" in
    --arch) need_arg "$@"; arch="$2"; shift 2 ;;
    --build-dir) need_arg "$@"; build_dir="$(cd "$2" && pwd)"; shift 2 ;;
    --site) need_arg "$@"; site="$(realpath "$2")"; shift 2 ;;
    --mirror) need_arg "$@"; mirror="$2"; shift 2 ;;
    --security-mirror) need_arg "$@"; security_mirror="$2"; shift 2 ;;
    --include) need_arg "$@"; extra_packages="$2"; shift 2 ;;
    --ntp-server) need_arg "$@"; ntp_servers+=("$2"); shift 2 ;;
    --hostname) need_arg "$@"; hostname="$2"; shift 2 ;;
    --overlay) need_arg "$@"; overlay="$(cd "$2" && pwd)"; shift 2 ;;
    --output) need_arg "$@"; out="$(realpath -m "$2")"; shift 2 ;;
    --keep-rootfs) keep_rootfs=1; shift ;;
    --allow-missing-daemon) allow_missing_daemon=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

# --- preconditions ------------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die "must run as root (mmdebstrap in root mode, file ownership in the image)"
[[ -f "$site" ]] || die "site configuration not found: $site"
[[ "$hostname" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || die "invalid host name: $hostname"
missing=()
for tool in mmdebstrap cmake dtc systemd-sysusers systemctl zstd tar readelf dpkg-query sha256sum; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (apt-get install mmdebstrap cmake \
device-tree-compiler systemd zstd binutils)"
if [[ "$arch" != "$host_arch" && -z "$build_dir" ]]; then
  die "--arch $arch differs from this machine ($host_arch): pass --build-dir with a zonegate tree \
cross-built for $arch (CMake toolchain file, the :$arch -dev packages)"
fi
case "$arch" in
  amd64) elf_machine="Advanced Micro Devices X86-64" ;;
  arm64) elf_machine="AArch64" ;;
  armhf) elf_machine="ARM" ;;
  *) elf_machine="" ;;
esac

mkdir -p "$out"
rootfs="$out/rootfs"
[[ ! -e "$rootfs" ]] || die "$rootfs exists (left by --keep-rootfs?): remove it first"
cleanup() {
  if ((keep_rootfs == 0)) && [[ -d "$rootfs" ]]; then rm -rf --one-file-system "$rootfs"; fi
}
trap cleanup EXIT

# --- 1. zonegate itself -------------------------------------------------------------------------
if [[ -z "$build_dir" ]]; then
  build_dir="$out/build"
  log "building zonegate in $build_dir"
  cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DZONEGATE_TESTS=OFF -DZONEGATE_BENCH=OFF -DZONEGATE_WERROR=OFF >/dev/null
  cmake --build "$build_dir" -j"$(nproc)"
fi
[[ -f "$build_dir/CMakeCache.txt" ]] || die "$build_dir is not a CMake build tree"

# --- 2. the Debian base -------------------------------------------------------------------------
# minbase plus what a headless gateway needs: systemd as init with udev, networkd/resolved for the
# network, chrony for time, the shared libraries zonegated links against, tzdata (schedules are in
# the site's time zone), CA certificates (TLS to the central database), gpiod for commissioning
# (gpioinfo / gpiofind), procps (the unit's ExecReload uses /bin/kill). Recommends are not
# installed.
packages=(
  systemd systemd-sysv udev dbus systemd-resolved chrony ca-certificates tzdata gpiod procps
  libyaml-cpp0.7 libssl3 libgpiod2 libnfc6 libfreefare0 libsqlite3-0 libpq5 libsystemd0
)
include="$(
  IFS=,
  echo "${packages[*]}"
)"
[[ -z "$extra_packages" ]] || include="$include,$extra_packages"
sources=("deb $mirror $suite main" "deb $mirror $suite-updates main")
[[ "$security_mirror" == none ]] || sources+=("deb $security_mirror $suite-security main")

log "bootstrapping Debian $suite/$arch into $rootfs"
mmdebstrap --mode=root --variant=minbase --architectures="$arch" --include="$include" \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  "$suite" "$rootfs" "${sources[@]}"

# --- 3. install zonegate and its firmware files -------------------------------------------------
log "installing zonegate from $build_dir"
DESTDIR="$rootfs" cmake --install "$build_dir" --strip --prefix /usr
# install() rules with a relative DESTINATION of GNUInstallDirs' "etc" / "var" land under the
# prefix (/usr/etc, /usr/var) even for prefix /usr: move the configuration where it belongs; the
# state directory is made by systemd (StateDirectory=) and zonegate.tmpfiles, with the right owner.
if [[ -d "$rootfs/usr/etc" ]]; then
  log "moving /usr/etc (from cmake --install) to /etc"
  cp -a "$rootfs/usr/etc/." "$rootfs/etc/"
  rm -rf "$rootfs/usr/etc"
fi
if [[ -d "$rootfs/usr/var" ]]; then
  log "dropping /usr/var (from cmake --install): /var/lib/zonegate comes from systemd-tmpfiles"
  rm -rf "$rootfs/usr/var"
fi
# The daemon is wherever the unit's ExecStart says; the build must have put it there.
daemon="$(sed -nE 's/^ExecStart=([^ ]+).*/\1/p' "$fw/systemd/zonegated.service")"
have_daemon=1
if [[ ! -x "$rootfs$daemon" ]]; then
  ((allow_missing_daemon)) || die "the zonegate install has no $daemon, which zonegated.service \
starts (use --allow-missing-daemon to build the image anyway)"
  log "WARNING: no $daemon: zonegated.service is installed but not enabled"
  have_daemon=0
fi
binaries=()
for bin in "$rootfs/usr/bin/zonegate" "$rootfs$daemon"; do
  if [[ -x "$bin" ]]; then binaries+=("$bin"); fi
done
if [[ -n "$elf_machine" ]]; then
  for bin in "${binaries[@]}"; do
    readelf -h "$bin" | grep -q "Machine:[[:space:]]*$elf_machine" ||
      die "$(basename "$bin") is not built for $arch ($elf_machine)"
  done
fi

install -D -m 0644 "$fw/systemd/zonegated.service" "$rootfs/usr/lib/systemd/system/zonegated.service"
install -D -m 0644 "$fw/systemd/zonegate.sysusers" "$rootfs/usr/lib/sysusers.d/zonegate.conf"
install -D -m 0644 "$fw/systemd/zonegate.tmpfiles" "$rootfs/usr/lib/tmpfiles.d/zonegate.conf"
install -D -m 0644 "$fw/udev/60-zonegate.rules" "$rootfs/usr/lib/udev/rules.d/60-zonegate.rules"
install -D -m 0644 "$fw/README.md" "$rootfs/usr/share/doc/zonegate/README.md"
dtc -@ -q -I dts -O dtb -o "$out/zonegate-gpio.dtbo" "$fw/dts/zonegate-gpio-overlay.dts"
install -D -m 0644 "$out/zonegate-gpio.dtbo" "$rootfs/usr/lib/zonegate/overlays/zonegate-gpio.dtbo"

# Users and groups are written into the image now: on a read-only root nothing can add them at boot.
systemd-sysusers --root="$rootfs"

# The site configuration: root-owned, readable by the daemon's group, by nobody else.
install -d -m 0755 "$rootfs/etc/zonegate"
install -m 0640 -o root -g "$(awk -F: '$1 == "zonegate" { print $3 }' "$rootfs/etc/group")" \
  "$site" "$rootfs/etc/zonegate/zones.yaml"
if [[ -x "$rootfs/usr/bin/zonegate" ]]; then
  log "checking the site configuration with the image's own zonegate"
  chroot "$rootfs" /usr/bin/zonegate check /etc/zonegate/zones.yaml ||
    die "the site configuration $site is invalid"
fi

# --- 4. journald: persistent, bounded ------------------------------------------------------------
install -d -m 0755 "$rootfs/etc/systemd/journald.conf.d"
cat >"$rootfs/etc/systemd/journald.conf.d/10-zonegate.conf" <<'EOF'
# zonegate gateway: keep the journal across reboots (on the writable /var), bounded so that it can
# never fill the partition that also holds the audit trail. The audit trail itself is zonegated's
# SQLite database; the journal holds operational logs.
[Journal]
Storage=persistent
Compress=yes
SystemMaxUse=256M
SystemKeepFree=512M
MaxRetentionSec=1year
ForwardToSyslog=no
EOF
install -d -m 2755 -g "$(awk -F: '$1 == "systemd-journal" { print $3 }' "$rootfs/etc/group")" \
  "$rootfs/var/log/journal"

# --- 5. time: chrony ---------------------------------------------------------------------------
# Schedules, anti-passback windows and audit timestamps all depend on the clock, so it is set by an
# authenticated-if-possible NTP client and nothing else (zonegated itself runs with ProtectClock=).
install -d -m 0755 "$rootfs/etc/chrony/conf.d" "$rootfs/etc/chrony/sources.d"
cat >"$rootfs/etc/chrony/conf.d/zonegate.conf" <<'EOF'
# zonegate gateway. Step the clock only while the first updates after boot arrive; afterwards slew,
# so a running gateway never sees time jump (a jump would distort door timers and audit order).
makestep 1 3
# Keep the RTC (if the board has one) in step with the system clock.
rtcsync
# Log any later correction larger than half a second to syslog/journal.
logchange 0.5
EOF
if ((${#ntp_servers[@]})); then
  : >"$rootfs/etc/chrony/sources.d/zonegate.sources"
  for s in "${ntp_servers[@]}"; do
    echo "server $s iburst" >>"$rootfs/etc/chrony/sources.d/zonegate.sources"
  done
  # The site's servers replace Debian's public pool.
  sed -i 's/^pool /#pool /' "$rootfs/etc/chrony/chrony.conf"
fi

# --- 6. network ---------------------------------------------------------------------------------
install -d -m 0755 "$rootfs/etc/systemd/network"
cat >"$rootfs/etc/systemd/network/20-wired.network" <<'EOF'
# zonegate gateway: DHCP on the wired interface(s). Replace with the site's static addressing via
# build-image.sh --overlay if the site requires it.
[Match]
Name=en* eth*

[Network]
DHCP=yes
EOF
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$rootfs/etc/resolv.conf"

# --- 7. read-only root layout -------------------------------------------------------------------
# / is read-only; /var is a separate writable partition (audit trail, journal, chrony state);
# /tmp is RAM. Partition labels are the contract with whoever writes the storage.
cat >"$rootfs/etc/fstab" <<'EOF'
# <file system>   <mount point> <type> <options>                                  <dump> <pass>
LABEL=zg-root     /             ext4   ro,noatime                                 0      1
LABEL=zg-var      /var          ext4   rw,noatime,nodev,nosuid,commit=5           0      2
tmpfs             /tmp          tmpfs  rw,nosuid,nodev,noexec,mode=1777,size=64M  0      0
EOF
echo "$hostname" >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
  "$hostname" >"$rootfs/etc/hosts"
# An empty machine-id: each gateway gets its own when it is provisioned (see firmware/README.md).
# Never ship one id in every image; never "uninitialized" on a read-only root (every boot would be
# a first boot).
: >"$rootfs/etc/machine-id"

# --- 8. services --------------------------------------------------------------------------------
units=(systemd-networkd.service systemd-resolved.service chrony.service)
((have_daemon == 0)) || units+=(zonegated.service)
systemctl --root="$rootfs" enable "${units[@]}"
systemctl --root="$rootfs" set-default multi-user.target
# In-place package upgrades cannot work on a read-only root: updates come as a new image.
systemctl --root="$rootfs" mask apt-daily.timer apt-daily-upgrade.timer

# --- 9. the site's own files --------------------------------------------------------------------
if [[ -n "$overlay" ]]; then
  log "copying site overlay $overlay"
  cp -a "$overlay/." "$rootfs/"
fi

# --- 10. checks on the result -------------------------------------------------------------------
for f in usr/lib/systemd/system/zonegated.service usr/lib/sysusers.d/zonegate.conf \
  usr/lib/tmpfiles.d/zonegate.conf usr/lib/udev/rules.d/60-zonegate.rules \
  usr/lib/zonegate/overlays/zonegate-gpio.dtbo etc/zonegate/zones.yaml \
  etc/systemd/journald.conf.d/10-zonegate.conf etc/chrony/conf.d/zonegate.conf; do
  [[ -f "$rootfs/$f" ]] || die "missing in the image: /$f"
done
for bin in "${binaries[@]}"; do
  unresolved="$(chroot "$rootfs" ldd "${bin#"$rootfs"}" | grep 'not found' || true)"
  [[ -z "$unresolved" ]] || die "$(basename "$bin") needs libraries the image lacks:
$unresolved
(add their packages to the list in build-image.sh)"
done
if ((have_daemon)); then
  # With --root, verify resolves ExecStart/ExecReload inside the image: every command must exist.
  verify_out="$(systemd-analyze verify --root="$rootfs" zonegated.service 2>&1)" ||
    die "systemd-analyze verify failed on the image: $verify_out"
  [[ -z "$verify_out" ]] || die "systemd-analyze verify warns about the image: $verify_out"
  log "systemd-analyze verify --root: zonegated.service clean"
fi
log "exposure of zonegated.service in the image:"
systemd-analyze security --offline=yes "$rootfs/usr/lib/systemd/system/zonegated.service" |
  grep 'Overall exposure' || true

# --- 11. outputs --------------------------------------------------------------------------------
name="zonegate-rootfs-$arch"
dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f '${Package}\t${Version}\t${Architecture}\n' \
  >"$out/$name.packages"
log "packing $out/$name.tar.zst"
tar --numeric-owner --xattrs --xattrs-include='*' --acls --one-file-system -C "$rootfs" -cf - . |
  zstd -q -T0 -9 -o "$out/$name.tar.zst" -f
(cd "$out" && sha256sum "$name.tar.zst" "$name.packages" zonegate-gpio.dtbo >SHA256SUMS)
log "done: $(du -h "$out/$name.tar.zst" | cut -f1) $out/$name.tar.zst, $(wc -l <"$out/$name.packages") packages"
