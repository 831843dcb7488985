#!/usr/bin/env bash
# The packaging check (CI, `make check-dist`): install a wheel with install.sh into a throwaway home outside the
# repo, render the bundled example and take a window screenshot from outside the repo, validate the desktop files,
# uninstall and check that nothing is left.   usage: packaging/check.sh [WHEEL]   (default: the newest in dist/)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
APP_ID=io.github.studio.Studio
WHEEL="${1:-$(ls -t "$REPO"/dist/studio-*.whl 2>/dev/null | head -n 1 || true)}"
[ -f "$WHEEL" ] || { echo "check: no wheel (run \`make dist\`)" >&2; exit 1; }
WHEEL="$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")"

step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }
fail() { printf 'check FAILED: %s\n' "$*" >&2; exit 1; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/studio-check.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
case "$TMP" in "$REPO"/*) fail "the temp folder $TMP is inside the repo" ;; esac
export STUDIO_INSTALL_HOME="$TMP/home"
# The studio's own folders (C2PA key, preview cache, autosaves) go beside the install home, so that what
# uninstall must remove is exactly what install put under it.
export STUDIO_CONFIG_DIR="$TMP/user/config" STUDIO_CACHE_DIR="$TMP/user/cache" STUDIO_DATA_DIR="$TMP/user/data"
export QT_QPA_PLATFORM=offscreen
mkdir -p "$STUDIO_INSTALL_HOME" "$TMP/work"
BIN="$STUDIO_INSTALL_HOME/.local/bin"
DATA="$STUDIO_INSTALL_HOME/.local/share"

step "install.sh $(basename "$WHEEL") into $STUDIO_INSTALL_HOME"
"$HERE/install.sh" "$WHEEL"
PY="$DATA/studio/app/venv/bin/python"
for path in "$BIN/studio" "$DATA/applications/$APP_ID.desktop" "$DATA/mime/packages/$APP_ID.xml" \
            "$DATA/metainfo/$APP_ID.metainfo.xml" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg" \
            "$DATA/icons/hicolor/48x48/apps/$APP_ID.png" "$DATA/studio/app/manifest.txt"; do
  [ -e "$path" ] || fail "install did not create $path"
done
if command -v update-mime-database >/dev/null 2>&1; then
  grep -q '\*\.studio\.json' "$DATA/mime/globs2" || fail "the MIME database does not know *.studio.json"
fi

step "the installed studio finds its resources in the environment, not in the checkout"
RESOURCES="$(cd "$TMP/work" && "$PY" -c 'from studio.paths import RESOURCES; print(RESOURCES)')"
case "$RESOURCES" in "$DATA/studio/app/venv/"*) ;; *) fail "resources found at $RESOURCES" ;; esac
EXAMPLE="$RESOURCES/workflows/text_to_video.json"
[ -f "$EXAMPLE" ] || fail "the example workflow is not in the wheel"

MODEL_ARGS=()
if [ -f "$RESOURCES/models/shapes/model_index.json" ]; then
  echo "rendering with the bundled shapes model"
else
  echo "the bundled model is not in this wheel yet: rendering with a tiny random-init model (frames are noise)"
  (cd "$TMP/work" && "$PY" -m studio.models.tiny "$TMP/tiny-wan" --expand-timesteps)
  MODEL_ARGS=(--set "model.path=$TMP/tiny-wan")
fi

step "studio render from a folder outside the repo"
(cd "$TMP/work" && PATH="$BIN:$PATH" studio render "$EXAMPLE" --out clip.mp4 "${MODEL_ARGS[@]}")
[ -s "$TMP/work/clip.mp4" ] || fail "studio render wrote no clip.mp4"

step "studio gui FILE.studio.json --screenshot (offscreen)"
cp "$EXAMPLE" "$TMP/work/example.studio.json"
if [ ${#MODEL_ARGS[@]} -gt 0 ]; then  # point the copy at the tiny model; the window takes no --set
  "$PY" - "$TMP/work/example.studio.json" "$TMP/tiny-wan" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1]))
data["nodes"]["model"]["params"]["path"] = sys.argv[2]
json.dump(data, open(sys.argv[1], "w"))
EOF
fi
(cd "$TMP/work" && PATH="$BIN:$PATH" studio gui example.studio.json --screenshot shot.png)
"$PY" - "$TMP/work/shot.png" <<'EOF'
import sys, cv2
image = cv2.imread(sys.argv[1])
assert image is not None, "the screenshot is not a readable PNG"
height, width = image.shape[:2]
assert width >= 800 and height >= 600, f"the screenshot is only {width}x{height}"
assert image.std() > 5, "the screenshot is blank"
print(f"screenshot {width}x{height}")
EOF

step "validate the desktop entry, the AppStream metainfo and the MIME type"
missing=()
command -v desktop-file-validate >/dev/null 2>&1 || missing+=(desktop-file-utils)
command -v appstreamcli >/dev/null 2>&1 || missing+=(appstream)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || true
fi
if command -v desktop-file-validate >/dev/null 2>&1; then
  desktop-file-validate "$HERE/linux/$APP_ID.desktop" "$DATA/applications/$APP_ID.desktop"
  echo "desktop-file-validate: ok"
else
  echo "SKIPPED: desktop-file-validate is not installed and could not be (apt-get install desktop-file-utils)"
fi
if command -v appstreamcli >/dev/null 2>&1; then
  appstreamcli validate --no-net "$HERE/linux/$APP_ID.metainfo.xml"
else
  echo "SKIPPED: appstreamcli is not installed and could not be (apt-get install appstream)"
fi
"$PY" - "$HERE/linux/$APP_ID.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
ET.parse(sys.argv[1])
print("mime XML: well-formed")
EOF

step "install.sh again upgrades in place"
"$HERE/install.sh" "$WHEEL" >/dev/null
[ -x "$BIN/studio" ] || fail "the launcher is gone after a re-install"

step "install.sh --uninstall leaves nothing behind"
"$HERE/install.sh" --uninstall
left="$(cd "$STUDIO_INSTALL_HOME" && find . -mindepth 1 | sort)"
[ -z "$left" ] || fail "left behind after uninstall:
$left"
echo "nothing left in $STUDIO_INSTALL_HOME"
printf '\npackaging check passed in %ss\n' "$SECONDS"
