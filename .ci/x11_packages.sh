#!/usr/bin/env bash
# Best effort: the Debian/Ubuntu packages the real-X11 smoke suite (tests/x11) needs: Xvfb + xvfb-run,
# and every system library Qt's xcb platform plugin
# loads (see mri_denoise_gui/preflight.py XCB_PACKAGES; a unit test keeps the two lists in step).
# Installs only what is missing, as root with apt-get; on any failure it says so and exits 0:
# tests/x11 then reports its tests as skipped, with the reason.
set -uo pipefail
PACKAGES="xvfb xauth
  libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-util1
  libxcb-randr0 libxcb-render0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-xkb1
  libxkbcommon0 libxkbcommon-x11-0 libx11-6 libx11-xcb1 libgl1 libegl1 libfontconfig1 libfreetype6
  libglib2.0-0 libdbus-1-3"

if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
    echo "x11_packages: no apt-get here; install the packages of packaging/README.md by hand"; exit 0
fi
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "x11_packages: all installed"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "x11_packages: not root, not installing:$missing"; exit 0
fi
echo "x11_packages: installing:$missing"
log=$(mktemp)
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; }
if ! apt-get update -q >"$log" 2>&1; then
    echo "x11_packages: apt-get update failed (tests/x11 will be skipped); last lines:"; tail -n 5 "$log"
elif install $missing >>"$log" 2>&1; then
    echo "x11_packages: done"
else  # one unknown name (another release) must not cost the others
    failed=""
    for p in $missing; do install "$p" >>"$log" 2>&1 || failed="$failed $p"; done
    echo "x11_packages: could not install:$failed (tests/x11 skips if the app needs them); last lines:"
    tail -n 5 "$log"
fi
rm -f "$log"
exit 0
