# shellcheck shell=bash
# Sourced by upgrade.sh and downgrade.sh (after common.sh): move the cluster to another MetalK8s
# version whose ISO is already available (iso-manager.sh -a), with upstream 2.4's command line
# and order of steps. The destination is --destination-version, recorded first as the cluster's
# version (the kube-system annotation, in test mode on --dry-run), or else the version already
# recorded there (pillar metalk8s:cluster_version). Salt's prechecks run next, and alone on
# --dry-run; then an upgrade updates the bootstrap node and runs the upgrade orchestrate in the
# destination's saltenv, while a downgrade runs its prechecks and orchestrate in the saltenv of
# the version this node runs now (the older states cannot know the newer cluster), then brings
# the bootstrap node down to the destination.

# change_version upgrade|downgrade ARGS...
# shellcheck disable=SC2034  # VERBOSE and LOGFILE are read by common.sh
change_version() {
    local direction=$1 destination=''
    DRY_RUN=0
    shift
    LOGFILE=/var/log/metalk8s/$direction.log
    while [ $# -gt 0 ]; do
        case "$1" in
            --destination-version) [ $# -ge 2 ] || die "$1 needs a VERSION"; destination=$2; shift 2 ;;
            -d|--dry-run) DRY_RUN=1; shift ;;
            -v|--verbose) VERBOSE=1; shift ;;
            -l|--log-file) [ $# -ge 2 ] || die "$1 needs a FILE"; LOGFILE=$2; shift 2 ;;
            -h|--help) echo "Usage: $SCRIPT_NAME [--destination-version VERSION] [-d|--dry-run] [-v|--verbose] [-l|--log-file FILE]"; exit 0 ;;
            *) die "unknown option $1 (see $SCRIPT_NAME --help)" ;;
        esac
    done

    start_log "$direction${destination:+ to $destination}"
    # The version this (bootstrap) node runs now.
    NODE_VERSION=$(salt_local_value slsutil.renderer string='{{ pillar.metalk8s.nodes[grains.id].version }}')
    [ -n "$NODE_VERSION" ] || die "Salt does not know the version of this node (pillar metalk8s:nodes:<id>:version)"
    if [ -n "$destination" ]; then
        DESTINATION=$destination
    else
        DESTINATION=$(salt_local_value pillar.get metalk8s:cluster_version)
        [ -n "$DESTINATION" ] || die "no --destination-version, and Salt does not know the cluster version (pillar metalk8s:cluster_version)"
        echo "> Destination: the cluster version, $DESTINATION"
    fi
    SALTENV=metalk8s-$DESTINATION
    CURRENT_SALTENV=metalk8s-$NODE_VERSION

    run "Checking that MetalK8s $DESTINATION is available" require_archive "$DESTINATION"
    run "Checking that $NODE_VERSION to $DESTINATION is a$([ "$direction" = upgrade ] && echo "n") $direction" check_direction "$direction"
    if [ -n "$destination" ]; then
        run "Setting the cluster version to $DESTINATION" set_cluster_version
    fi
    run "Running the $direction prechecks" precheck "$direction"
    if [ "$DRY_RUN" = 1 ]; then
        echo "Dry run: stopping before any change"
        exit 0
    fi
    if [ "$direction" = upgrade ]; then
        run "Upgrading the bootstrap node" update_bootstrap
        run "Running the upgrade (this may take a while)" orchestrate_change upgrade "$SALTENV"
    else
        run "Running the downgrade (this may take a while)" orchestrate_change downgrade "$CURRENT_SALTENV"
        run "Downgrading the bootstrap node" downgrade_bootstrap
    fi
    return 0
}

# Semantic versions ordered by sort -V, a prerelease (2.5.0-dev) before its release: `~` sorts first.
version_lower() {
    local a=${1/-/\~} b=${2/-/\~}
    [ "$a" != "$b" ] && [ "$(printf '%s\n%s\n' "$a" "$b" | sort -V | head -n1)" = "$a" ]
}

# The same version again is allowed: an interrupted upgrade or downgrade is run again.
check_direction() {
    if [ "$1" = upgrade ]; then
        ! version_lower "$DESTINATION" "$NODE_VERSION" || die "$DESTINATION is older than this node's $NODE_VERSION: use downgrade.sh"
    else
        ! version_lower "$NODE_VERSION" "$DESTINATION" || die "$DESTINATION is newer than this node's $NODE_VERSION: use upgrade.sh"
    fi
}

# The upgrade's prechecks come with the destination's states, the downgrade's with this node's.
precheck() {
    local saltenv=$SALTENV
    [ "$1" = downgrade ] && saltenv=$CURRENT_SALTENV
    salt_master salt-run state.orchestrate "metalk8s.orchestrate.$1.precheck" \
        saltenv="$saltenv" pillar="{'metalk8s': {'cluster_version': '$DESTINATION'}}"
}

set_cluster_version() {
    salt_master salt-run state.orchestrate_single metalk8s_kubernetes.namespace_annotation_present kube-system \
        kubeconfig=/etc/kubernetes/admin.conf context=kubernetes-admin@kubernetes \
        annotation_key=metalk8s.scality.com/cluster-version annotation_value="$DESTINATION" test="$([ "$DRY_RUN" = 1 ] && echo True || echo False)"
}

bootstrap_role() {
    local salt_master_endpoint repositories_endpoint
    salt_master_endpoint=$(salt_local_value pillar.get metalk8s:endpoints:salt-master)
    repositories_endpoint=$(salt_local_value pillar.get metalk8s:endpoints:repositories)
    "$SALT_CALL" --local --retcode-passthrough state.sls metalk8s.roles.bootstrap saltenv="$SALTENV" \
        pillar="{'metalk8s': {'endpoints': {'salt-master': $salt_master_endpoint, 'repositories': $repositories_endpoint}}}"
}

sync_master() {
    salt_master salt-run saltutil.sync_all saltenv="$SALTENV"
    salt_master salt-run metalk8s_saltutil.sync_auth saltenv="$SALTENV"
    salt_master salt-run saltutil.sync_roster saltenv="$SALTENV"
}

update_bootstrap() {
    "$SALT_CALL" saltutil.sync_all saltenv="$SALTENV"
    bootstrap_role
}

# orchestrate_change upgrade|downgrade SALTENV
orchestrate_change() {
    [ "$1" = upgrade ] && sync_master
    salt_master salt-run state.orchestrate "metalk8s.orchestrate.$1" saltenv="$2"
}

downgrade_bootstrap() {
    local id
    bootstrap_role
    sync_master
    id=$(salt_local_value grains.get id)
    [ -n "$id" ] || die "Salt does not know this node's id (grain id)"
    salt_master salt-run salt.cmd state.single metalk8s_kubernetes.node_label_present metalk8s.scality.com/version \
        node="$id" value="$DESTINATION" kubeconfig=/etc/kubernetes/admin.conf
    salt_master salt-run state.sls metalk8s.orchestrate.deploy_node saltenv="$CURRENT_SALTENV" \
        pillar="{'orchestrate': {'node_name': '$id'}}"
}
