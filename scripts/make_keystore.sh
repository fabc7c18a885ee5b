#!/usr/bin/env bash
# Create (or extend) an SROS2 keystore with the Runespoor enclaves, in the layout
# `ros2 security` makes and the launch files / run_graph.py --keystore expect:
#   KEYSTORE/{public,private}/...  KEYSTORE/enclaves/runespoor[/<namespace>]/<node>/
#       cert.pem key.pem governance.p7s permissions.p7s identity_ca.cert.pem permissions_ca.cert.pem
#
#   scripts/make_keystore.sh KEYSTORE                      # /runespoor/{source,edge,cloud}
#   scripts/make_keystore.sh KEYSTORE --namespace robot1   # /runespoor/robot1/{source,edge,cloud}
#   scripts/make_keystore.sh KEYSTORE /runespoor/edge ...  # the enclaves named
#
# It drives `ros2 security create_keystore` / `create_enclave` (package sros2, in every ROS 2
# desktop/ros-base install: apt install ros-$ROS_DISTRO-sros2).  Those are not on PyPI: in the
# pip-only venv this script says so and exits 3 instead of writing a home-made layout.
# See docs/operations.md ("SROS2").
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
[ $# -ge 1 ] || usage 1
case "$1" in -h|--help) usage 0 ;; esac
keystore="$1"; shift
namespace=""
enclaves=()
while [ $# -gt 0 ]; do
    case "$1" in
        --namespace) namespace="${2:?--namespace needs a name}"; shift 2 ;;
        -h|--help) usage 0 ;;
        /*) enclaves+=("$1"); shift ;;
        *) echo "make_keystore: enclave names start with / (got '$1')" >&2; exit 1 ;;
    esac
done
if [ ${#enclaves[@]} -eq 0 ]; then
    prefix="/runespoor${namespace:+/${namespace#/}}"
    enclaves=("$prefix/source" "$prefix/edge" "$prefix/cloud")
fi

if ! command -v ros2 >/dev/null 2>&1 || ! ros2 security --help >/dev/null 2>&1; then
    cat >&2 <<MSG
make_keystore: 'ros2 security' (package sros2) is not available here, so no keystore was made.
  sros2 and ros2cli are not published on PyPI; the ROS 2 wheels in this venv bring rclpy and
  the middleware only.  On a machine with ROS 2 installed:
      source /opt/ros/\$ROS_DISTRO/setup.bash   # sros2 comes with ros-\$ROS_DISTRO-ros-base
      scripts/make_keystore.sh $keystore${namespace:+ --namespace $namespace}
  (Security also needs a middleware built with its security plugins: the Fast DDS of the
  Jazzy PyPI wheels has none; the apt packages of rmw_fastrtps / rmw_cyclonedds have them.)
MSG
    exit 3
fi

if [ ! -d "$keystore/enclaves" ]; then
    echo "[make_keystore] ros2 security create_keystore $keystore"
    ros2 security create_keystore "$keystore"
fi
for enclave in "${enclaves[@]}"; do
    if [ -f "$keystore/enclaves/${enclave#/}/cert.pem" ]; then
        echo "[make_keystore] $enclave exists"
    else
        echo "[make_keystore] ros2 security create_enclave $keystore $enclave"
        ros2 security create_enclave "$keystore" "$enclave"
    fi
done
echo "[make_keystore] done. Use: ros2 launch runespoor_bringup system.launch.py use_security:=true keystore:=$keystore"
echo "[make_keystore]       or: python scripts/run_graph.py --keystore $keystore${namespace:+ --namespace $namespace}"
