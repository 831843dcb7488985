#!/usr/bin/env bash
# Installs the studio like a desktop application, for the current user only (no root).
# Run `packaging/install.sh --help` for what it does and the settings it reads.
set -euo pipefail

APP_ID=io.github.studio.Studio
MIME_TYPE=application/x-studio-workflow+json
TORCH_VERSION=2.13.0
TORCH_INDEX=https://download.pytorch.org/whl
ICON_SIZES="16 24 32 48 64 128 256 512"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"

usage() {
  cat <<EOF
usage: install.sh [WHEEL]          install or upgrade the studio (WHEEL: default the newest dist/studio-*.whl,
                                   built from this checkout when there is none)
       install.sh --uninstall      remove exactly what the install added (autosaves and settings stay)
       install.sh --which-torch    print the torch build this machine gets, and exit

Installs into your user folders, nothing system-wide:
  \$XDG_DATA_HOME/studio/app/        a Python environment with torch, the studio and its dependencies,
                                    and manifest.txt, the list of every file the install placed
  ~/.local/bin/studio               the launcher (\`studio gui\`, \`studio render ...\`)
  \$XDG_DATA_HOME/applications, icons/hicolor, mime/packages, metainfo
                                    the desktop entry, icons, the $MIME_TYPE type (*.studio.json)
                                    and AppStream metadata (with xdg-utils when present)
(\$XDG_DATA_HOME defaults to ~/.local/share.) Running it again upgrades in place.

torch: the CUDA build when nvidia-smi reports a driver (the newest build its CUDA version can run), else the CPU
build (torch==$TORCH_VERSION; a local wheel from pip's find-links is used first, so it works offline). A torch
already in the environment is kept.

Settings (environment):
  STUDIO_INSTALL_HOME   install under this folder instead of your home (its .local/share and .local/bin)
  STUDIO_PYTHON         the Python 3.11+ to build the environment with (default python3.11, else python3)
  STUDIO_TORCH          force the torch build: cpu, or a CUDA build such as cu128
  STUDIO_TORCH_CUDA_BUILDS  CUDA builds to choose from, newest first (default "13.0 12.8 12.6")
EOF
}

if [ -n "${STUDIO_INSTALL_HOME:-}" ]; then
  DATA_HOME="$STUDIO_INSTALL_HOME/.local/share"
  CONFIG_HOME="$STUDIO_INSTALL_HOME/.config"
  BIN_DIR="$STUDIO_INSTALL_HOME/.local/bin"
else
  DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
  CONFIG_HOME="${XDG_CONFIG_HOME:-$HOME/.config}"
  BIN_DIR="$HOME/.local/bin"
fi
APP_DIR="$DATA_HOME/studio/app"
VENV="$APP_DIR/venv"
MANIFEST="$APP_DIR/manifest.txt"
LAUNCHER="$BIN_DIR/studio"
LAUNCHER_MARK="# studio launcher, written by install.sh"

say() { printf 'studio install: %s\n' "$*"; }
die() { printf 'studio install: %s\n' "$*" >&2; exit 1; }

# --- torch -----------------------------------------------------------------------------------------------------

# The CUDA version the driver supports ("12.8"), or nothing when there is no NVIDIA driver.
driver_cuda_version() {
  command -v nvidia-smi >/dev/null 2>&1 || return 0
  nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1
}

# "cpu" or "cuXYZ": the newest CUDA build not newer than what the driver supports.
which_torch() {
  if [ -n "${STUDIO_TORCH:-}" ]; then echo "$STUDIO_TORCH"; return; fi
  local driver build
  driver="$(driver_cuda_version)"
  if [ -z "$driver" ]; then echo cpu; return; fi
  for build in ${STUDIO_TORCH_CUDA_BUILDS:-13.0 12.8 12.6}; do
    if [ "$(printf '%s\n%s\n' "$build" "$driver" | sort -V | head -n 1)" = "$build" ]; then
      echo "cu${build//./}"; return
    fi
  done
  echo cpu  # a driver older than every CUDA build: the CPU build still works
}

install_torch() {
  local build="$1" pip="$VENV/bin/python -m pip"
  if "$VENV/bin/python" -c "import torch" 2>/dev/null && [ -z "${STUDIO_TORCH:-}" ]; then
    say "keeping torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
    return
  fi
  if [ "$build" = cpu ]; then
    say "installing torch==$TORCH_VERSION (CPU)"
    # A local wheel from pip's find-links first (offline machines), its dependencies from the usual indexes;
    # else the CPU index (PyPI's Linux torch is the CUDA build, gigabytes a CPU-only machine does not need).
    if $pip install --quiet --no-index --no-deps "torch==$TORCH_VERSION" 2>/dev/null; then
      $pip install --quiet "torch==$TORCH_VERSION"
    else
      $pip install "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX/cpu" --extra-index-url https://pypi.org/simple
    fi
  else
    say "installing torch==$TORCH_VERSION ($build, for the NVIDIA driver's CUDA $(driver_cuda_version))"
    $pip install "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX/$build" --extra-index-url https://pypi.org/simple
  fi
}

# --- the manifest ------------------------------------------------------------------------------------------------
# Lines "dir PATH" (a folder the install created, removed again when empty) and "file PATH" (a file it placed).

NEW_MANIFEST=""

# Record the folders that placing a file at $1 will create, outermost first.
note_new_dirs() {
  local dir missing=()
  dir="$(dirname "$1")"
  while [ ! -d "$dir" ]; do missing=("$dir" "${missing[@]}"); dir="$(dirname "$dir")"; done
  for dir in "${missing[@]}"; do printf 'dir %s\n' "$dir" >>"$NEW_MANIFEST"; done
}

place() {  # place SOURCE TARGET: copy a file, recording it
  note_new_dirs "$2"
  mkdir -p "$(dirname "$2")"
  cp -f "$1" "$2"
  printf 'file %s\n' "$2" >>"$NEW_MANIFEST"
}

# --- desktop integration -----------------------------------------------------------------------------------------

refresh_caches() {
  if command -v update-desktop-database >/dev/null 2>&1 && [ -d "$DATA_HOME/applications" ]; then
    update-desktop-database -q "$DATA_HOME/applications" 2>/dev/null || true
  fi
  if command -v update-mime-database >/dev/null 2>&1 && [ -d "$DATA_HOME/mime/packages" ]; then
    update-mime-database "$DATA_HOME/mime" 2>/dev/null || true
  fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$DATA_HOME/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -t "$DATA_HOME/icons/hicolor" 2>/dev/null || true
  fi
}

install_desktop_files() {
  local icons="$1" work="$2" size
  local desktop="$work/$APP_ID.desktop" exec_path="$LAUNCHER"
  case "$exec_path" in *" "*) exec_path="\"$exec_path\"" ;; esac
  # The menu starts the launcher by its full path: ~/.local/bin is not on every desktop session's PATH.
  sed -e "s|^Exec=studio |Exec=$exec_path |" -e "s|^TryExec=.*|TryExec=$LAUNCHER|" \
    "$HERE/linux/$APP_ID.desktop" >"$desktop"
  local use_xdg=""
  if [ -z "${STUDIO_NO_XDG_UTILS:-}" ] && command -v xdg-desktop-menu >/dev/null 2>&1 \
     && command -v xdg-icon-resource >/dev/null 2>&1 && command -v xdg-mime >/dev/null 2>&1; then
    use_xdg=1
  fi
  for size in $ICON_SIZES; do
    local target="$DATA_HOME/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
    if [ -n "$use_xdg" ]; then
      note_new_dirs "$target"
      XDG_DATA_HOME="$DATA_HOME" xdg-icon-resource install --mode user --noupdate --novendor --context apps \
        --size "$size" "$icons/${size}x${size}/apps/$APP_ID.png" "$APP_ID"
      printf 'file %s\n' "$target" >>"$NEW_MANIFEST"
    else
      place "$icons/${size}x${size}/apps/$APP_ID.png" "$target"
    fi
  done
  place "$icons/scalable/apps/$APP_ID.svg" "$DATA_HOME/icons/hicolor/scalable/apps/$APP_ID.svg"
  place "$HERE/linux/$APP_ID.metainfo.xml" "$DATA_HOME/metainfo/$APP_ID.metainfo.xml"
  if [ -n "$use_xdg" ]; then
    local defaults="$DATA_HOME/applications/defaults.list"
    note_new_dirs "$DATA_HOME/applications/$APP_ID.desktop"
    note_new_dirs "$DATA_HOME/mime/packages/$APP_ID.xml"
    note_new_dirs "$CONFIG_HOME/menus/applications-merged/x"  # xdg-desktop-menu leaves a dummy menu there
    # xdg-desktop-menu also names the app the default for its MIME type in defaults.list: a file of ours when it
    # creates it, else one line that uninstall takes back out.
    if [ -f "$defaults" ]; then printf 'default %s\n' "$defaults" >>"$NEW_MANIFEST"; fi
    export XDG_DATA_HOME="$DATA_HOME" XDG_CONFIG_HOME="$CONFIG_HOME"
    xdg-icon-resource forceupdate --mode user
    xdg-desktop-menu install --mode user --novendor "$desktop"
    xdg-mime install --mode user --novendor "$HERE/linux/$APP_ID.xml"
    if ! grep -qxF "default $defaults" "$NEW_MANIFEST" && [ -f "$defaults" ]; then
      printf 'file %s\n' "$defaults" >>"$NEW_MANIFEST"
    fi
    printf 'file %s\n' "$DATA_HOME/applications/$APP_ID.desktop" "$DATA_HOME/mime/packages/$APP_ID.xml" \
      >>"$NEW_MANIFEST"
  else
    place "$desktop" "$DATA_HOME/applications/$APP_ID.desktop"
    place "$HERE/linux/$APP_ID.xml" "$DATA_HOME/mime/packages/$APP_ID.xml"
  fi
  refresh_caches
  say "registered the desktop entry, icons and $MIME_TYPE (*.studio.json)${use_xdg:+ with xdg-utils}"
}

# --- uninstall ---------------------------------------------------------------------------------------------------

# In a folder the install created, the caches that the desktop databases generated from our files go too.
remove_generated() {
  local dir="$1"
  case "$(basename "$dir")" in
    mime) if [ -z "$(ls -A "$dir/packages" 2>/dev/null)" ]; then rm -rf "$dir"; fi ;;
    applications) rm -f "$dir/mimeinfo.cache" ;;
    hicolor) rm -f "$dir/icon-theme.cache" ;;
    applications-merged) rm -f "$dir/xdg-desktop-menu-dummy.menu" ;;
  esac
}

remove_listed() {  # remove_listed MANIFEST [KEEP_LIST]: files first, then the folders created, innermost first
  local manifest="$1" keep="${2:-}" kind path mime_re="${MIME_TYPE//\//\\/}"
  while read -r kind path; do
    if [ "$kind" = default ] && [ -z "$keep" ] && [ -f "$path" ]; then  # our desktop id out of the MIME line
      sed -i -e "/^$mime_re=/{s/$APP_ID\.desktop;\{0,1\}//;s/;$//}" -e "/^$mime_re=$/d" "$path"
    fi
    [ "$kind" = file ] || continue
    if [ -n "$keep" ] && grep -qxF "file $path" "$keep"; then continue; fi
    rm -f "$path"
  done <"$manifest"
  [ -n "$keep" ] && return 0
  refresh_caches
  tac "$manifest" | while read -r kind path; do
    [ "$kind" = dir ] && [ -d "$path" ] || continue
    # Empty sub-folders first (icon size folders), then this folder itself when nothing else is in it.
    find "$path" -depth -mindepth 1 -type d -empty -delete 2>/dev/null || true
    remove_generated "$path"
    find "$path" -depth -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rmdir "$path" 2>/dev/null || true
  done
}

uninstall() {
  [ -f "$MANIFEST" ] || die "nothing to uninstall: no $MANIFEST"
  local copy
  copy="$(mktemp)"
  cp "$MANIFEST" "$copy"
  rm -rf "$VENV"
  rm -f "$MANIFEST"
  remove_listed "$copy"
  rm -f "$copy"
  say "removed the studio (your autosaves in $DATA_HOME/studio and settings in ~/.config/studio are kept)"
}

# --- install -----------------------------------------------------------------------------------------------------

find_python() {
  local candidate
  for candidate in ${STUDIO_PYTHON:-} python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 \
       && "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return
    fi
  done
  die "needs Python 3.11 or newer with venv (set STUDIO_PYTHON to its path)"
}

find_wheel() {
  if [ -n "${1:-}" ]; then
    [ -f "$1" ] || die "no such wheel: $1"
    (cd "$(dirname "$1")" && echo "$PWD/$(basename "$1")"); return
  fi
  local newest
  newest="$(ls -t "$REPO"/dist/studio-*.whl 2>/dev/null | head -n 1 || true)"
  if [ -z "$newest" ] && [ -f "$REPO/pyproject.toml" ]; then
    say "no wheel in $REPO/dist: building one from this checkout"
    rm -rf "$REPO/build/lib" "$REPO"/build/bdist.*  # setuptools reuses build/lib; stale files must not ship
    "$VENV/bin/python" -m pip wheel --no-deps -w "$REPO/dist" "$REPO" >/dev/null
    newest="$(ls -t "$REPO"/dist/studio-*.whl 2>/dev/null | head -n 1 || true)"
  fi
  [ -n "$newest" ] || die "no wheel given and none in $REPO/dist (run \`make dist\`)"
  echo "$newest"
}

install() {
  if [ -e "$LAUNCHER" ] && ! grep -qF "$LAUNCHER_MARK" "$LAUNCHER" 2>/dev/null; then
    die "$LAUNCHER exists and is not the studio's launcher; move it away first"
  fi
  local python wheel build work
  python="$(find_python)"
  NEW_MANIFEST="$(mktemp)"
  if [ -f "$MANIFEST" ]; then
    grep '^dir ' "$MANIFEST" >>"$NEW_MANIFEST" || true  # folders the first install created stay ours
  else
    note_new_dirs "$VENV/x"
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the environment in $VENV ($("$python" --version))"
    mkdir -p "$APP_DIR"
    "$python" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
  fi
  build="$(which_torch)"
  install_torch "$build"
  wheel="$(find_wheel "${1:-}")"
  say "installing $(basename "$wheel")"
  "$VENV/bin/python" -m pip install --quiet "$wheel"
  "$VENV/bin/python" -m pip install --quiet --no-deps --force-reinstall "$wheel"  # same version: new files

  note_new_dirs "$LAUNCHER"
  mkdir -p "$BIN_DIR"
  printf '#!/bin/sh\n%s\nexec "%s" "$@"\n' "$LAUNCHER_MARK" "$VENV/bin/studio" >"$LAUNCHER"
  chmod +x "$LAUNCHER"
  printf 'file %s\n' "$LAUNCHER" >>"$NEW_MANIFEST"

  work="$(mktemp -d)"
  install_desktop_files "$("$VENV/bin/python" -c 'from studio.paths import ICONS; print(ICONS / "hicolor")')" "$work"
  rm -rf "$work"
  if [ -f "$MANIFEST" ]; then remove_listed "$MANIFEST" "$NEW_MANIFEST"; fi  # files an older install had
  awk '!seen[$0]++' "$NEW_MANIFEST" >"$MANIFEST"
  rm -f "$NEW_MANIFEST"
  say "installed: run \`studio gui\` or \`studio render WORKFLOW --out clip.mp4\` ($LAUNCHER)"
  case ":$PATH:" in *":$BIN_DIR:"*) ;; *) say "note: $BIN_DIR is not on your PATH; add it to use \`studio\`" ;; esac
}

case "${1:-}" in
  -h|--help) usage ;;
  --uninstall) uninstall ;;
  --which-torch) which_torch ;;
  -*) usage >&2; exit 2 ;;
  *) install "${1:-}" ;;
esac
