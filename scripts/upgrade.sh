#!/bin/bash
# upgrade.sh: upgrade the cluster to a newer MetalK8s version whose ISO is already available
# (iso-manager.sh -a). Usage: upgrade.sh [--destination-version VERSION] [-d|--dry-run] [-v] [-l FILE]
# (without --destination-version: the version the cluster already records, as upstream)
set -eu -o pipefail
here=$(dirname "$(readlink -f "$0")")
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"
# shellcheck source-path=SCRIPTDIR source=version-change.sh
. "$here/version-change.sh"
change_version upgrade "$@"
