# shellcheck shell=bash
# Sourced by the shell scripts at the ISO root: the pieces they share. Host paths go through
# host_path, so that ROOT (or --root) can point them at a temporary tree; the commands that
# change a node (SALT_CALL, CRICTL, YUM, RPM, SYSTEMCTL, KUBECTL) come from variables of those
# names, as upstream's SALT_CALL does. Steps run through `run NAME COMMAND...`: their output
# goes to LOGFILE, and on a failure to stderr with the step's name.

ROOT=${ROOT:-}
VERBOSE=${VERBOSE:-0}
SALT_CALL=${SALT_CALL:-salt-call}
CRICTL=${CRICTL:-crictl}
# shellcheck disable=SC2034  # read by the scripts that source this file
BASE_DIR=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
SCRIPT_NAME=$(basename "$0")

host_path() {
    printf '%s%s' "$ROOT" "$1"
}

die() {
    echo "$SCRIPT_NAME: $*" >&2
    exit 1
}

# The operator sees a warning even from a quiet step, whose output goes to the log only: fd 3 is
# the script's own stderr.
exec 3>&2
warn() {
    echo "warning: $*"
    echo "$SCRIPT_NAME: warning: $*" >&3
}

# start_log TITLE: opens LOGFILE (as LOG_PATH, under ROOT) and the steps' scratch file.
start_log() {
    LOG_PATH=$(host_path "$LOGFILE")
    mkdir -p "$(dirname "$LOG_PATH")"
    echo "--- MetalK8s $1 started on $(date -u -R) ---" >> "$LOG_PATH"
    STEP_OUTPUT=$(mktemp)
    trap 'rm -f "$STEP_OUTPUT"' EXIT
}

# run NAME COMMAND...: one step, timed; a failure stops the script after showing its output.
# The step runs in a subshell with errexit on (outside any `||`, where bash would ignore it), so
# its first failing command, or a `die`, ends the step and nothing else.
run() {
    local name=$1 start status
    shift
    start=$(date +%s)
    set +e
    if [ "$VERBOSE" = 1 ]; then
        echo "> $name..."
        ( set -e; "$@" ) 2>&1 | tee -a "$LOG_PATH"
        status=${PIPESTATUS[0]}
    else
        echo -n "> $name..."
        ( set -e; "$@" ) > "$STEP_OUTPUT" 2>&1
        status=$?
        cat "$STEP_OUTPUT" >> "$LOG_PATH"
    fi
    set -e
    if [ "$status" = 0 ]; then
        [ "$VERBOSE" = 1 ] || echo " done [$(( $(date +%s) - start ))s]"
        return 0
    fi
    [ "$VERBOSE" = 1 ] || echo " fail [$(( $(date +%s) - start ))s]"
    {
        echo "Step '$name' failed (exit $status): $*"
        [ "$VERBOSE" = 1 ] || { echo '<< BEGIN >>'; cat "$STEP_OUTPUT"; echo '<< END >>'; }
        echo "The full log is in $LOG_PATH."
    } >&2
    exit 1
}

# The value salt-call prints as `local: VALUE` with --out txt.
salt_local_value() {
    "$SALT_CALL" "$@" --out txt | sed -n 's/^local: //p'
}

# The running salt-master container, waited for a few seconds.
salt_master_container() {
    local container='' attempt
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        container=$("$CRICTL" ps -q --label io.kubernetes.pod.namespace=kube-system \
            --label io.kubernetes.container.name=salt-master --state Running)
        [ -n "$container" ] && break
        [ "$attempt" = 10 ] || sleep 1
    done
    [ -n "$container" ] || die "no running salt-master container (crictl ps found none)"
    echo "$container"
}

# salt_master COMMAND...: runs a command in the salt-master container.
salt_master() {
    "$CRICTL" exec -i "$(salt_master_container)" "$@"
}

# The MetalK8s version of the archive mounted at /srv/scality/metalk8s-VERSION, checked.
require_archive() {
    local version=$1 product
    product=$(host_path "/srv/scality/metalk8s-$version/product.txt")
    [ -f "$product" ] || die "/srv/scality/metalk8s-$version is not available: add the MetalK8s $version ISO first (iso-manager.sh -a ISO)"
    grep -qx "VERSION=$version" "$product" || die "$product does not say VERSION=$version"
}

# agent_command: AGENT, the command line of the node-side agent beside the scripts
# (metalk8s-agent.cjs), run with the JavaScript runtime the ISO ships beside it (runtime/node:
# Node.js 16, built for glibc 2.17, so it runs on every CentOS/RHEL 7 node); NODE names another
# one (16 or later).
agent_command() {
    local agent node=${NODE:-$BASE_DIR/runtime/node}
    agent="$BASE_DIR/metalk8s-agent.cjs"
    if [ ! -f "$agent" ]; then
        die "$agent is missing: this script runs from the root of a MetalK8s ISO"
    fi
    if ! command -v "$node" >/dev/null 2>&1; then
        die "$node is missing: this script runs from the root of a MetalK8s ISO, which ships it (or set NODE to a Node.js 16 or later)"
    fi
    if ! "$node" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 16 ? 0 : 1)' >/dev/null 2>&1; then
        die "$node cannot run $agent: Node.js 16 or later is needed ($("$node" --version 2>&1 | head -1))"
    fi
    AGENT=("$node" "$agent")
}

# run_agent ARGS...: the script becomes the agent.
run_agent() {
    agent_command
    exec "${AGENT[@]}" "$@"
}
