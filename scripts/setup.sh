#!/usr/bin/env bash
# One-time, idempotent set-up of the Runespoor workspace (called by `make setup`).
#
#   scripts/setup.sh [jazzy|kilted] [--msgs-only]
#
# Without a sourced ROS 2 (no ROS_DISTRO): makes a Python 3.11 venv (.venv for Jazzy,
# .venv-kilted for Kilted), installs the pinned lock file of ROS 2 wheels + Python packages
# (lock-jazzy.txt, lock-kilted.txt: everything the nodes need, torch and OpenCV included),
# repairs the wheels' CMake exports (scripts/fix_ros_wheels.py), runs `colcon build` and checks
# that the nodes' imports resolve before it says "ready".
# --msgs-only (Kilted, for the tests' cross-distribution DDS check): the lean
# lock-kilted-msgs.txt (ROS wheels + build tools, no torch/OpenCV) and runespoor_msgs alone; a
# venv that already holds the full lock-kilted.txt is kept as it is (a superset).
# With a sourced ROS 2 (ROS_DISTRO set): builds against it instead.
# A second run finds the stamps up to date and does nothing but say so.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
wheels="${1:-${ROS_WHEELS:-jazzy}}"
msgs_only="${2:-}"
log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

hash_files() { cat "$@" | sha256sum | cut -d' ' -f1; }

# Newest modification time of the workspace sources (what colcon would rebuild from).
sources_changed_since() {
    local stamp="$1"
    [ -f "$stamp" ] || return 0
    [ -n "$(find ros2_ws/src -type f -newer "$stamp" -not -path '*/__pycache__*' \
            -not -name '*.pyc' -print -quit 2>/dev/null)" ]
}

colcon_build() {
    local build="$1" install="$2" stamp="$3"; shift 3
    if ! sources_changed_since "$stamp"; then
        log "workspace $install up to date (no source newer than the last build)"
        return 0
    fi
    log "colcon build -> $install $*"
    colcon --log-base ros2_ws/log build --base-paths ros2_ws/src --build-base "$build" \
        --install-base "$install" --symlink-install "$@" \
        --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$(command -v python3)" \
        --event-handlers console_cohesion+ summary+
    touch "$stamp"
}

if [ -n "${ROS_DISTRO:-}" ] && [ -z "${RUNESPOOR_WHEELS_ENV:-}" ]; then
    log "ROS 2 '$ROS_DISTRO' is sourced: building against it (no wheels, no venv for ROS)."
    command -v colcon >/dev/null || die "colcon not found; install python3-colcon-common-extensions"
    missing=$(python3 - <<'PY'
import importlib.util
mods = {'numpy': 'numpy', 'cv2': 'opencv-python-headless', 'yaml': 'pyyaml', 'torch': 'torch',
        'torchvision': 'torchvision', 'scipy': 'scipy', 'rosbags': 'rosbags', 'tqdm': 'tqdm'}
print(' '.join(p for m, p in mods.items() if importlib.util.find_spec(m) is None))
PY
)
    if [ -n "$missing" ]; then
        log "Python packages missing for the nodes/tools: $missing"
        log "install them with: python3 -m pip install --user -r requirements/python.in"
    fi
    mkdir -p ros2_ws
    colcon_build ros2_ws/build ros2_ws/install ros2_ws/install/.runespoor-build-stamp
    log "done. Use: source ros2_ws/install/setup.bash"
    exit 0
fi

case "$wheels" in
    jazzy) venv=.venv; lock=requirements/lock-jazzy.txt; build=ros2_ws/build; install=ros2_ws/install ;;
    kilted) venv=.venv-kilted; lock=requirements/lock-kilted.txt; build=ros2_ws/build-kilted
            install=ros2_ws/install-kilted ;;
    *) die "unknown ROS wheels '$wheels' (use jazzy or kilted)" ;;
esac
if [ "$msgs_only" = "--msgs-only" ]; then
    [ "$wheels" = kilted ] || die "--msgs-only is for the lean Kilted workspace (kilted)"
    full_lock="$lock"; lock=requirements/lock-kilted-msgs.txt
fi
[ -f "$lock" ] || die "$lock is missing (make lock regenerates it)"

python="${PYTHON:-python3.11}"
if [ ! -x "$venv/bin/python" ]; then
    command -v "$python" >/dev/null || die "$python not found: the ROS 2 wheels are built for CPython 3.11"
    log "creating $venv with $($python --version)"
    "$python" -m venv "$venv"
fi
want="$(hash_files "$lock")"
have="$(cat "$venv/.runespoor-lock" 2>/dev/null || true)"
if [ -n "${full_lock:-}" ] && [ "$(hash_files "$full_lock")" = "$have" ]; then
    log "$venv holds the full $full_lock (a superset of $lock; no reinstall)"
elif [ "$want" != "$have" ]; then
    log "installing $lock into $venv (first time: ~2 min for Jazzy + torch, ~20 s for Kilted)"
    # pip's configuration here may name local index folders that do not exist; drop those
    # warnings, keep everything else pip says.
    "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$lock" 2>&1 \
        | { grep -v "^WARNING: Location 'file://" || true; }
    echo "$want" > "$venv/.runespoor-lock"
else
    log "$venv matches $lock (no reinstall)"
fi

# The wheels export CMake include paths of their build machine; point them at this venv.
"$venv/bin/python" scripts/fix_ros_wheels.py "$venv" | sed 's/^/[setup] /'

set +u
# shellcheck disable=SC1091
. scripts/env.sh "$wheels"
set -u
if [ "$msgs_only" = "--msgs-only" ]; then
    # A full build of this workspace that is up to date has the messages too.
    if sources_changed_since "$install/.runespoor-build-stamp"; then
        colcon_build "$build" "$install" "$install/.runespoor-build-stamp-msgs" \
            --packages-select runespoor_msgs
    fi
    need='rclpy runespoor_msgs.msg'
else
    colcon_build "$build" "$install" "$install/.runespoor-build-stamp"
    need='rclpy runespoor_msgs.msg numpy cv2 yaml torch torchvision rosbags runespoor'
    need="$need runespoor_edge.edge_node runespoor_cloud.cloud_node runespoor_bringup.graph"
fi
# "ready" only when what the nodes import is there (find_spec: fast, imports no torch), in the
# environment a user gets: the workspace sourced again now that the build made it.
set +u
# shellcheck disable=SC1091
[ -f "$install/setup.bash" ] && . "$install/setup.bash"
set -u
# shellcheck disable=SC2086
missing="$(python3 - $need <<'PY'
import importlib.util
import sys
missing = []
for name in sys.argv[1:]:
    try:
        found = importlib.util.find_spec(name) is not None
    except ImportError:  # its parent package is missing
        found = False
    if not found:
        missing.append(name)
print(' '.join(missing))
PY
)"
[ -z "$missing" ] || die "$venv lacks modules the nodes import: $missing (delete $venv/.runespoor-lock and run make setup again)"
log "ready ($wheels wheels${msgs_only:+, messages only}). In a shell: source scripts/env.sh $wheels"
