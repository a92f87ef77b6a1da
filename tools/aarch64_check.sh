#!/usr/bin/env bash
# The on-device install, checked on real aarch64 binaries under qemu-user emulation.
#
#   sudo tools/aarch64_check.sh            # or: make check-aarch64
#
# For each Debian release (bookworm: Python 3.11 as Raspberry Pi OS; bullseye: Python 3.9) it
# builds an arm64 root file system with debootstrap, creates one venv per runtime extra and
# installs edgekit's wheel into it with pip exactly as the README tells a Pi user
# (`pip install "edgekit-detect[tflite]"`, `[onnx]`, `[openvino]`: here the wheel built from this
# checkout, its dependencies from PyPI), then runs a bundle made on this host with
# `edgekit.Detector` on numpy frames (tools/aarch64_detect.py: what an embedded app does; no
# OpenCV in the venv). Detections must equal the host's on the same frames (same classes, boxes
# within half a pixel). Each venv also runs `edgekit predict` with a backend it lacks and must
# fail with one line naming the exact `pip install`. Wall times are smoke figures only.
#
# Needs root (debootstrap, chroot), Debian's debootstrap + qemu-user-static + binfmt-support
# (installed with apt-get when missing) and binfmt_misc (mounted and qemu-aarch64 enabled when
# not). Root file systems are kept in $WORK (default .aarch64-check/) and reused.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
WORK=${WORK:-$REPO/.aarch64-check}
SUITES=${SUITES:-"bookworm bullseye"}
EXTRAS=${EXTRAS:-"tflite onnx openvino"}
HOST_PY=${HOST_PY:-$REPO/.venv/bin/python}
CHECKPOINT=${CHECKPOINT:-tests/data/fixtures/yolo11-shapes.pt}
declare -A BACKEND=([tflite]=tflite [onnx]=onnxruntime [openvino]=openvino)
declare -A OTHER=([tflite]=openvino [onnx]=tflite [openvino]=onnxruntime)  # a backend it lacks
declare -A OTHER_EXTRA=([openvino]=openvino [tflite]=tflite [onnxruntime]=onnx)

say() { printf '== %s\n' "$*"; }
unmount_root() { for fs in proc/cpuinfo proc sys dev; do umount -l "$ROOT/$fs" 2>/dev/null || true; done; }
fake_sys() {  # $1: a /sys holding this host's CPU and node topology plus a Cortex-A76 MIDR_EL1
  rm -rf "$1" && mkdir -p "$1/devices/system"
  (cd /sys/devices/system && find cpu node -maxdepth 4 -type f \( -path '*/topology/*' \
    -o -path '*/cache/index*/*' -o -name online -o -name possible -o -name present \
    -o -name cpulist -o -name cpumap -o -name meminfo -o -name 'has_*' \) 2>/dev/null) |
    while read -r f; do
      mkdir -p "$1/devices/system/$(dirname "$f")"
      cat "/sys/devices/system/$f" >"$1/devices/system/$f" 2>/dev/null || true
    done
  for c in "$1"/devices/system/cpu/cpu[0-9]*; do
    mkdir -p "$c/regs/identification"
    echo 0x00000000414fd0b1 >"$c/regs/identification/midr_el1"  # Arm, r4p1, part 0xd0b
  done
}
cpuinfo() {  # a Raspberry Pi 5's /proc/cpuinfo (Cortex-A76) with $1 processors
  for ((i = 0; i < $1; i++)); do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\n' "$i"
    printf 'Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n'
    printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n'
  done
}
die() { printf 'aarch64_check: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap and chroot)"
[ -x "$HOST_PY" ] || die "$HOST_PY missing: run 'make venv' first (the host converts the bundle)"

# -- tools and binfmt ------------------------------------------------------------------------
if ! command -v debootstrap >/dev/null || [ ! -x /usr/bin/qemu-aarch64-static ] \
  || ! command -v update-binfmts >/dev/null; then
  say "installing debootstrap, qemu-user-static, binfmt-support"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap qemu-user-static binfmt-support >/dev/null
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable qemu-aarch64 || die "cannot register qemu-aarch64 with binfmt_misc"
fi
# the Debian mirror this host's apt uses
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$MIRROR" ] || MIRROR=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list(.d)"

# -- host side: wheel, bundle, images, reference detections ------------------------------------
mkdir -p "$WORK"
HOSTDIR="$WORK/host"
rm -rf "$HOSTDIR" && mkdir -p "$HOSTDIR/dist"
say "host: wheel, bundle (--target rpi5), images, reference detections"
"$HOST_PY" -m pip wheel -q --no-deps --no-build-isolation -w "$HOSTDIR/dist" . >/dev/null
"$HOST_PY" -m edgekit convert "$CHECKPOINT" --target rpi5 --imgsz 320 -o "$HOSTDIR/bundle" >"$HOSTDIR/convert.log"
"$HOST_PY" -c "from edgekit.testing import generate; generate('$HOSTDIR/shapes', 0, 0, 6, seed=11, image_format='png')"
cp -r "$HOSTDIR/shapes/images/test" "$HOSTDIR/images"
# the same frames as numpy arrays: the device venvs have no OpenCV to read image files
"$HOST_PY" -c "
import sys, cv2, numpy as np, pathlib
out = pathlib.Path('$HOSTDIR/npy'); out.mkdir()
for p in sorted(pathlib.Path('$HOSTDIR/images').glob('*.png')):
    np.save(str(out / (p.stem + '.npy')), cv2.imread(str(p)))
"
cp tools/aarch64_detect.py "$HOSTDIR/"
for extra in $EXTRAS; do
  "$HOST_PY" tools/aarch64_detect.py "$HOSTDIR/bundle" "$HOSTDIR/npy" "${BACKEND[$extra]}" \
    >"$HOSTDIR/ref-${BACKEND[$extra]}.jsonl" 2>"$HOSTDIR/ref-${BACKEND[$extra]}.err"
done

# -- device side, per release -----------------------------------------------------------------
ROWS=()
FAILED=0
for suite in $SUITES; do
  ROOT="$WORK/rootfs-$suite"
  if [ ! -e "$ROOT/.edgekit-ready" ]; then
    say "$suite: debootstrap arm64 (minbase + python3, python3-venv)"
    rm -rf "$ROOT"
    start=$(date +%s)
    debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,ca-certificates \
      "$suite" "$ROOT" "$MIRROR" >"$WORK/debootstrap-$suite.log" 2>&1 \
      || die "$suite: debootstrap failed (see $WORK/debootstrap-$suite.log)"
    touch "$ROOT/.edgekit-ready"
    say "$suite: root file system in $(($(date +%s) - start)) s"
  fi
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  for fs in proc dev; do
    mountpoint -q "$ROOT/$fs" || mount --bind "/$fs" "$ROOT/$fs"
  done
  trap unmount_root EXIT
  rm -rf "$ROOT/opt/check" && mkdir -p "$ROOT/opt/check"
  # qemu-user shows programs this host's x86 /proc/cpuinfo and /sys: LiteRT's XNNPACK crashed on
  # it (SIGSEGV) and OpenVINO's ARM plugin stopped ("Can't open MIDR_EL1 sysfs entry"), so the
  # root sees a Raspberry Pi 5's (Cortex-A76) cpuinfo and MIDR over this host's CPU topology
  cpuinfo "$(nproc)" >"$WORK/cpuinfo-a76"
  mountpoint -q "$ROOT/proc/cpuinfo" 2>/dev/null || mount --bind "$WORK/cpuinfo-a76" "$ROOT/proc/cpuinfo"
  fake_sys "$WORK/sys"
  mountpoint -q "$ROOT/sys" || mount --bind "$WORK/sys" "$ROOT/sys"
  cp -r "$HOSTDIR/dist" "$HOSTDIR/bundle" "$HOSTDIR/images" "$HOSTDIR/npy" "$HOSTDIR/aarch64_detect.py" \
    "$ROOT/opt/check/"
  # pip inside trusts what this host trusts (a proxy's CA included) and uses its proxy, if any
  cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$ROOT/opt/check/ca-certificates.crt"
  wheel=$(basename "$HOSTDIR"/dist/edgekit-*.whl)
  in_root() {
    # QEMU_CPU: emulate the Pi 5's Cortex-A76. qemu's default ("max", with SVE and more) made
    # OpenVINO's ARM plugin compute wrong boxes (raw outputs off by up to 165 px)
    chroot "$ROOT" /usr/bin/env -i QEMU_CPU=cortex-a76 PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
      PIP_CERT=/opt/check/ca-certificates.crt ${HTTPS_PROXY:+HTTPS_PROXY=$HTTPS_PROXY} \
      ${https_proxy:+https_proxy=$https_proxy} "$@"
  }
  arch=$(in_root uname -m)
  pyver=$(in_root python3 -c 'import platform; print(platform.python_version())')
  say "$suite: $arch, Python $pyver"
  for extra in $EXTRAS; do
    backend=${BACKEND[$extra]}
    venv=/opt/venv-$extra
    start=$(date +%s)
    in_root rm -rf "$venv"
    in_root python3 -m venv "$venv"
    in_root "$venv/bin/pip" install -q --disable-pip-version-check "/opt/check/dist/$wheel[$extra]" \
      >"$WORK/pip-$suite-$extra.log" 2>&1 || die "$suite: pip install [$extra] failed (see $WORK/pip-$suite-$extra.log)"
    installed=$(($(date +%s) - start))
    versions=$(in_root "$venv/bin/python" -c "import importlib.metadata as m; print(' '.join(f'{p} {m.version(p)}' for p in ('numpy', {'tflite': 'ai-edge-litert', 'onnx': 'onnxruntime', 'openvino': 'openvino'}['$extra'])))")
    start=$(date +%s)
    in_root "$venv/bin/python" /opt/check/aarch64_detect.py /opt/check/bundle /opt/check/npy "$backend" \
      >"$WORK/device-$suite-$backend.jsonl" 2>"$WORK/device-$suite-$backend.err" || true
    ran=$(($(date +%s) - start))
    verdict=$("$HOST_PY" tools/aarch64_compare.py "$HOSTDIR/ref-$backend.jsonl" "$WORK/device-$suite-$backend.jsonl") \
      || { FAILED=1; cat "$WORK/device-$suite-$backend.err" >&2; }
    # a backend this venv lacks: one line with the exact pip install to run
    other=${OTHER[$extra]}
    err=$(in_root "$venv/bin/edgekit" predict /opt/check/bundle /opt/check/images --backend "$other" 2>&1 >/dev/null || true)
    want="pip install \"edgekit-detect[${OTHER_EXTRA[$other]}]\""
    if [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ "$err" == *"$want"* ]]; then
      missing="ok: $err"
    else
      missing="FAILED: expected one line naming $want, got: $err"
      FAILED=1
    fi
    ROWS+=("$suite | Python $pyver | edgekit-detect[$extra] | $versions | $verdict | install ${installed} s, run ${ran} s")
    ROWS+=("$suite | Python $pyver | edgekit-detect[$extra] | --backend $other | $missing")
  done
  unmount_root
  trap - EXIT
done

say "results ($(uname -m) host, qemu-aarch64-static $(/usr/bin/qemu-aarch64-static --version | head -1 | awk '{print $3}'))"
printf '%s\n' "${ROWS[@]}"
[ "$FAILED" -eq 0 ] || die "some checks failed"
say "aarch64 check passed"
