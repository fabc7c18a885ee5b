# Source this file to get the Runespoor environment in a shell:
#     source scripts/env.sh            # ROS 2 Jazzy wheels (default), or the sourced system ROS 2
#     source scripts/env.sh kilted     # ROS 2 Kilted wheels
# It activates the project venv made by `make setup`, exports what the ROS 2 PyPI wheels need
# (their shared libraries on LD_LIBRARY_PATH) and sources the colcon workspace.
# With a system ROS 2 already sourced (ROS_DISTRO set) it only sources the workspace.

_rs_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_rs_wheels="${1:-${ROS_WHEELS:-jazzy}}"
# Relative model paths in the nodes' YAML (models/...) resolve against this folder.
export RUNESPOOR_HOME="$_rs_root"

if [ -n "${ROS_DISTRO:-}" ] && [ -z "${RUNESPOOR_WHEELS_ENV:-}" ]; then
    # System ROS 2 (a robot): the user has sourced /opt/ros/$ROS_DISTRO/setup.bash already.
    _rs_install="$_rs_root/ros2_ws/install"
    if [ -d "$_rs_root/.venv-system" ]; then
        export VIRTUAL_ENV="$_rs_root/.venv-system"
        export PATH="$VIRTUAL_ENV/bin:$PATH"
    fi
else
    case "$_rs_wheels" in
        jazzy) _rs_venv="$_rs_root/.venv"; _rs_install="$_rs_root/ros2_ws/install" ;;
        kilted) _rs_venv="$_rs_root/.venv-kilted"; _rs_install="$_rs_root/ros2_ws/install-kilted" ;;
        *) echo "scripts/env.sh: unknown ROS wheels '$_rs_wheels' (jazzy or kilted)" >&2; return 1 ;;
    esac
    if [ ! -x "$_rs_venv/bin/python" ]; then
        echo "scripts/env.sh: $_rs_venv does not exist; run 'make setup' first" >&2
        return 1
    fi
    export RUNESPOOR_WHEELS_ENV="$_rs_wheels"
    export VIRTUAL_ENV="$_rs_venv"
    export PATH="$VIRTUAL_ENV/bin:$PATH"
    # The wheels' ros_wheels_bootstrapper re-executes every Python process once with the ROS
    # libraries on LD_LIBRARY_PATH.  Set that path here once and mark the bootstrap done, so
    # CMake, colcon, pytest and subprocesses see one consistent environment.
    if [ -z "${_ROS_WHEELS_BOOTSTRAP_COMPLETE:-}" ]; then
        LD_LIBRARY_PATH="$(_ROS_WHEELS_BOOTSTRAP_COMPLETE=1 "$VIRTUAL_ENV/bin/python" -c \
            'import ros_wheels_bootstrapper as b; print(b.get_ros_paths())')"
        export LD_LIBRARY_PATH
        export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
    fi
    export CMAKE_PREFIX_PATH="$VIRTUAL_ENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
    export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
fi

if [ -f "$_rs_install/setup.bash" ]; then
    # shellcheck disable=SC1091
    . "$_rs_install/setup.bash"
fi
unset _rs_root _rs_wheels _rs_venv _rs_install
