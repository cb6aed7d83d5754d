#!/usr/bin/env bash
# The OpenGL library MuJoCo's headless rendering needs for evaluation videos (docs/videos.md):
# Debian/Ubuntu's libosmesa6 (software rendering, MUJOCO_GL=osmesa). Installs it where it can
# (apt-get, as root) and otherwise says what to install; never fails the set-up, because
# without it runs only go without MuJoCo videos.
set -u
if ldconfig -p 2>/dev/null | grep -q 'libOSMesa\.so'; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    if apt-get install -y -q libosmesa6 >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libosmesa6 >/dev/null 2>&1; }; then
        echo "installed libosmesa6 (MuJoCo videos with MUJOCO_GL=osmesa)"
        exit 0
    fi
fi
echo "note: libOSMesa not found and not installable here; MuJoCo evaluation videos need it" \
    "(Debian/Ubuntu: apt-get install libosmesa6, then MUJOCO_GL=osmesa; GPU nodes: MUJOCO_GL=egl)." \
    "Runs work without it, without MuJoCo videos." >&2
exit 0
