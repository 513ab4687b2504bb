# shellcheck shell=bash
# Sourced by upgrade.sh and downgrade.sh (after common.sh): move the cluster to another MetalK8s
# version whose ISO is already available (iso-manager.sh -a), as upstream's scripts do: check the
# direction, run Salt's prechecks, stop there on --dry-run, then set the cluster version and run
# the orchestrate. An upgrade updates the bootstrap node first, a downgrade last.

# change_version upgrade|downgrade ARGS...
# shellcheck disable=SC2034  # VERBOSE and LOGFILE are read by common.sh
change_version() {
    local direction=$1 destination='' dry_run=0
    shift
    LOGFILE=/var/log/metalk8s/$direction.log
    while [ $# -gt 0 ]; do
        case "$1" in
            --destination-version) [ $# -ge 2 ] || die "$1 needs a VERSION"; destination=$2; shift 2 ;;
            -d|--dry-run) dry_run=1; shift ;;
            -v|--verbose) VERBOSE=1; shift ;;
            -l|--log-file) [ $# -ge 2 ] || die "$1 needs a FILE"; LOGFILE=$2; shift 2 ;;
            -h|--help) echo "Usage: $SCRIPT_NAME --destination-version VERSION [-d|--dry-run] [-v|--verbose] [-l|--log-file FILE]"; exit 0 ;;
            *) die "unknown option $1 (see $SCRIPT_NAME --help)" ;;
        esac
    done
    [ -n "$destination" ] || die "--destination-version is required"
    DESTINATION=$destination
    SALTENV=metalk8s-$destination

    start_log "$direction to $destination"
    run "Checking that MetalK8s $destination is available" require_archive "$destination"
    CURRENT=$(salt_local_value pillar.get metalk8s:cluster_version)
    [ -n "$CURRENT" ] || die "Salt does not know the cluster version (pillar metalk8s:cluster_version)"
    if [ "$CURRENT" = "$destination" ]; then
        echo "The cluster already runs MetalK8s $destination: nothing to do"
        exit 0
    fi
    run "Checking that $CURRENT to $destination is a$([ "$direction" = upgrade ] && echo "n") $direction" check_direction "$direction"
    run "Running the $direction prechecks" precheck "$direction"
    if [ "$dry_run" = 1 ]; then
        echo "Dry run: stopping before any change"
        exit 0
    fi
    [ "$direction" = upgrade ] && run "Upgrading the bootstrap node" update_bootstrap
    run "Setting the cluster version to $destination" set_cluster_version
    run "Running the $direction (this may take a while)" orchestrate_change "$direction"
    [ "$direction" = downgrade ] && run "Downgrading the bootstrap node" update_bootstrap
    return 0
}

# Semantic versions ordered by sort -V, a prerelease (2.5.0-dev) before its release: `~` sorts first.
version_lower() {
    local a=${1/-/\~} b=${2/-/\~}
    [ "$a" != "$b" ] && [ "$(printf '%s\n%s\n' "$a" "$b" | sort -V | head -n1)" = "$a" ]
}

check_direction() {
    if [ "$1" = upgrade ]; then
        version_lower "$CURRENT" "$DESTINATION" || die "$DESTINATION is older than the cluster's $CURRENT: use downgrade.sh"
    else
        version_lower "$DESTINATION" "$CURRENT" || die "$DESTINATION is newer than the cluster's $CURRENT: use upgrade.sh"
    fi
}

precheck() {
    salt_master salt-run state.orchestrate "metalk8s.orchestrate.$1.precheck" \
        saltenv="$SALTENV" pillar="{'metalk8s': {'cluster_version': '$DESTINATION'}}"
}

set_cluster_version() {
    salt_master salt-run state.orchestrate_single metalk8s_kubernetes.namespace_annotation_present kube-system \
        kubeconfig=/etc/kubernetes/admin.conf context=kubernetes-admin@kubernetes \
        annotation_key=metalk8s.scality.com/cluster-version annotation_value="$DESTINATION"
}

update_bootstrap() {
    local salt_master_endpoint repositories_endpoint
    "$SALT_CALL" saltutil.sync_all saltenv="$SALTENV"
    salt_master_endpoint=$(salt_local_value pillar.get metalk8s:endpoints:salt-master)
    repositories_endpoint=$(salt_local_value pillar.get metalk8s:endpoints:repositories)
    "$SALT_CALL" --local --retcode-passthrough state.sls metalk8s.roles.bootstrap saltenv="$SALTENV" \
        pillar="{'metalk8s': {'endpoints': {'salt-master': $salt_master_endpoint, 'repositories': $repositories_endpoint}}}"
}

orchestrate_change() {
    salt_master salt-run saltutil.sync_all saltenv="$SALTENV"
    salt_master salt-run saltutil.sync_roster saltenv="$SALTENV"
    salt_master salt-run state.orchestrate "metalk8s.orchestrate.$1" saltenv="$SALTENV"
}
