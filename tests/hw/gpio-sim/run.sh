#!/usr/bin/env bash
# Runs the libgpiod adapter against the kernel's gpio-sim, inside QEMU (software emulation).
#
# Debian's kernels enable neither gpio-sim nor gpio-mockup, so this builds a tinyconfig kernel from
# Debian's linux-source-6.1 with GPIO_SIM, GPIO_CDEV_V1 and CONFIGFS built in, builds
# gpio_sim_test.cpp (plus the adapter's source) statically against libgpiod, packs it as /init of
# an initramfs and boots that with `qemu-system-x86_64 -accel tcg -cpu max`. The first run builds
# the kernel (minutes); later runs reuse it from the cache directory and take seconds.
#
# Not part of the default test run. Skips cleanly (exit 0, a line starting "SKIP:") when
# linux-source-6.1, QEMU or a build tool is not installed. Debian 12 packages it needs:
#   linux-source-6.1 qemu-system-x86 build-essential flex bison bc libelf-dev libgpiod-dev
#   libboost-dev catch2
# Usage: tests/hw/gpio-sim/run.sh
# Environment: GPIO_SIM_WORK (cache directory, default ~/.cache/zonegate-gpio-sim), JOBS (default
#   nproc), GPIO_SIM_TIMEOUT (seconds for the guest, default 300).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

skip() {
  echo "SKIP: $*"
  exit 0
}

src_tar="$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -n 1 || true)"
[[ -n "$src_tar" ]] || skip "linux-source-6.1 is not installed (apt-get install linux-source-6.1)"
command -v qemu-system-x86_64 >/dev/null || skip "QEMU is not installed (apt-get install qemu-system-x86)"
missing=()
for tool in make gcc g++ flex bison bc perl tar xz; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -f /usr/include/libelf.h ]] || missing+=(libelf-dev)
[[ -f /usr/include/gpiod.h && -n "$(ls /usr/lib/*/libgpiod.a 2>/dev/null)" ]] || missing+=(libgpiod-dev)
[[ -f /usr/include/boost/asio.hpp ]] || missing+=(libboost-dev)
[[ -f /usr/include/catch2/catch.hpp ]] || missing+=(catch2)
((${#missing[@]} == 0)) || skip "missing build tools or libraries: ${missing[*]}"

work="${GPIO_SIM_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/zonegate-gpio-sim}"
jobs="${JOBS:-$(nproc)}"
mkdir -p "$work"

# --- kernel: tinyconfig plus what the test needs -----------------------------------------------
wanted=(64BIT PRINTK TTY SERIAL_8250 SERIAL_8250_CONSOLE BLK_DEV_INITRD BINFMT_ELF DEVTMPFS PROC_FS
  SYSFS CONFIGFS_FS GPIOLIB GPIO_CDEV GPIO_CDEV_V1 GPIO_SIM EPOLL EVENTFD TIMERFD SIGNALFD FUTEX
  POSIX_TIMERS HIGH_RES_TIMERS MULTIUSER FILE_LOCKING SHMEM)
stamp="$(stat -c '%n %s %Y' "$src_tar") ${wanted[*]}"
ksrc="$work/linux"
if [[ ! -f "$work/bzImage" || "$(cat "$work/kernel.stamp" 2>/dev/null)" != "$stamp" ]]; then
  echo "gpio-sim: building a tinyconfig kernel from $src_tar (takes minutes)"
  rm -rf "$ksrc" "$work/bzImage"
  mkdir -p "$ksrc"
  tar -C "$ksrc" --strip-components=1 -xf "$src_tar"
  make -C "$ksrc" ARCH=x86_64 tinyconfig >/dev/null
  args=()
  for opt in "${wanted[@]}"; do args+=(--enable "$opt"); done
  "$ksrc/scripts/config" --file "$ksrc/.config" "${args[@]}"
  make -C "$ksrc" ARCH=x86_64 olddefconfig >/dev/null
  for opt in "${wanted[@]}"; do
    grep -q "^CONFIG_${opt}=y" "$ksrc/.config" || {
      echo "gpio-sim: the kernel config lacks CONFIG_${opt}=y" >&2
      exit 1
    }
  done
  nice make -C "$ksrc" ARCH=x86_64 -j"$jobs" bzImage >"$work/kernel-build.log" 2>&1 || {
    tail -n 40 "$work/kernel-build.log" >&2
    exit 1
  }
  cp "$ksrc/arch/x86/boot/bzImage" "$work/bzImage"
  gcc -O2 -o "$work/gen_init_cpio" "$ksrc/usr/gen_init_cpio.c"
  echo "$stamp" >"$work/kernel.stamp"
fi
[[ -x "$work/gen_init_cpio" ]] || gcc -O2 -o "$work/gen_init_cpio" "$ksrc/usr/gen_init_cpio.c"

# --- the test program, static, as /init ---------------------------------------------------------
g++ -std=c++20 -O1 -Wall -Wextra -static -I"$root/daemon" \
  "$here/gpio_sim_test.cpp" "$root/daemon/adapters/gpio/gpiod_lines.cpp" -lgpiod -o "$work/gpio_sim_test"
cat >"$work/initramfs.list" <<EOF
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0755 0 0
dir /sys 0755 0 0
file /init $work/gpio_sim_test 0755 0 0
EOF
"$work/gen_init_cpio" "$work/initramfs.list" >"$work/initramfs.cpio"

# --- boot it --------------------------------------------------------------------------------------
echo "gpio-sim: booting the guest"
set +e
timeout "${GPIO_SIM_TIMEOUT:-300}" qemu-system-x86_64 -accel tcg -cpu max -m 256 -nographic -no-reboot \
  -kernel "$work/bzImage" -initrd "$work/initramfs.cpio" -append "console=ttyS0 panic=-1 loglevel=4" \
  </dev/null | tee "$work/console.log"
set -e
if grep -q "GPIO-SIM-RESULT: PASS" "$work/console.log"; then
  echo "gpio-sim: the adapter passed against the kernel's gpio-sim"
  exit 0
fi
echo "gpio-sim: FAILED (console log: $work/console.log)" >&2
exit 1
