#!/bin/bash
# solution-manager.sh: import Solution ISOs on this bootstrap node (-a/--add) or take them away
# (-d/--del): /etc/metalk8s/solutions.yaml, mounts under /srv/scality, the registry
# configuration of their images, then the Solutions orchestrates on the salt-master.
# Upstream's command line (-a, -d, -v/--verbose, -l/--log-file); the work is done by the agent
# beside this script: see `solution-manager.sh --help` for every option.
set -eu
here=$(dirname "$(readlink -f "$0")")
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"
run_agent solution-manager "$@"
