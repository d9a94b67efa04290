#!/usr/bin/env bash
# Add (or remove) MRI Denoise to the desktop's application menu for the current user:
# the .desktop entry, the icons (hicolor theme, 16-512 px + scalable SVG), the NIfTI MIME types
# (so that .nii / .nii.gz files can be opened with the app) and the AppStream metainfo.
#
#   bash packaging/install_desktop_entry.sh            # install for this user (~/.local/share)
#   bash packaging/install_desktop_entry.sh --uninstall
#
# Needs xdg-utils (Debian/Ubuntu: apt install xdg-utils). The entry runs `mri-denoise-gui`,
# which must be on PATH: `pip install` puts it in the environment's bin/ folder; for the frozen
# app, link it, e.g. ln -s "$PWD/dist/app/mri-denoise-gui/mri-denoise-gui" ~/.local/bin/
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ICONS=$ROOT/resources/icons
NAME=mri-denoise-gui
SIZES=(16 32 48 64 128 256 512)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
METAINFO=io.github.mri_denoise_gui.metainfo.xml

if [ "${1:-}" = "--uninstall" ]; then
    xdg-desktop-menu uninstall --mode user "$NAME.desktop" || true
    for n in "${SIZES[@]}"; do
        xdg-icon-resource uninstall --mode user --noupdate --context apps --size "$n" "$NAME" || true
    done
    rm -f "$DATA/icons/hicolor/scalable/apps/$NAME.svg" "$DATA/metainfo/$METAINFO"
    xdg-icon-resource forceupdate --mode user || true
    xdg-mime uninstall --mode user "$HERE/$NAME-mime.xml" || true
    echo "removed $NAME from the menu"
    exit 0
fi

command -v "$NAME" >/dev/null || echo "warning: $NAME is not on PATH; the menu entry will not start until it is" >&2
xdg-mime install --mode user --novendor "$HERE/$NAME-mime.xml"
for n in "${SIZES[@]}"; do
    xdg-icon-resource install --mode user --noupdate --novendor --context apps --size "$n" "$ICONS/$NAME-$n.png" "$NAME"
done
install -D -m 644 "$ICONS/$NAME.svg" "$DATA/icons/hicolor/scalable/apps/$NAME.svg"
xdg-icon-resource forceupdate --mode user
xdg-desktop-menu install --mode user --novendor "$HERE/$NAME.desktop"
install -D -m 644 "$HERE/$METAINFO" "$DATA/metainfo/$METAINFO"
echo "installed: $DATA/applications/$NAME.desktop, icons in $DATA/icons/hicolor, NIfTI MIME types"
echo "make it the default for NIfTI files with:"
echo "  xdg-mime default $NAME.desktop application/x-nifti application/x-nifti-gz"
