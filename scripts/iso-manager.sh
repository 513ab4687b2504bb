#!/bin/bash
# iso-manager.sh: make MetalK8s ISOs available on this bootstrap node: check each one, add it to
# /etc/metalk8s/bootstrap.yaml, mount it under /srv/scality and apply metalk8s.archives.
# Upstream's command line (-a/--archive, -d/--dry-run, -v/--verbose, -l/--log-file); the work
# is done by the agent beside this script: see `iso-manager.sh --help` for every option.
set -eu
here=$(dirname "$(readlink -f "$0")")
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"
run_agent iso-manager "$@"
