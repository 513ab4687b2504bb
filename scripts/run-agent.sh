# shellcheck shell=bash
# Sourced by the scripts at the ISO root: runs the node-side agent (metalk8s-agent.cjs, beside
# them) with Node.js 20 or later, or says what is missing. NODE names another node binary.

run_agent() {
    local agent node=${NODE:-node}
    agent="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/metalk8s-agent.cjs"
    if ! command -v "$node" >/dev/null 2>&1; then
        echo "$(basename "$0"): Node.js 20 or later is needed to run $agent ('$node' not found): install the nodejs package, or set NODE" >&2
        exit 1
    fi
    if ! "$node" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
        echo "$(basename "$0"): Node.js 20 or later is needed, $node is $("$node" --version)" >&2
        exit 1
    fi
    if [ ! -f "$agent" ]; then
        echo "$(basename "$0"): $agent is missing: this script runs from the root of a MetalK8s ISO" >&2
        exit 1
    fi
    exec "$node" "$agent" "$@"
}
