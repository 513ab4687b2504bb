#!/bin/bash
# backup.sh: what a lost bootstrap node needs to be rebuilt with restore.sh: the MetalK8s
# configuration (/etc/metalk8s), the cluster's certificate authorities and service account key
# (/etc/kubernetes/pki), and a snapshot of etcd, in one tar.gz written atomically.
# Usage: backup.sh [-v|--verbose] [-l|--log-file FILE] [-b|--backup-file FILE]
set -eu -o pipefail
here=$(dirname "$(readlink -f "$0")")
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"

LOGFILE=/var/log/metalk8s/backup.log
BACKUP_ARCHIVE=/var/lib/metalk8s/backup_$(date -u +%Y%m%d_%H%M%S).tar.gz
CA_FILES=(ca.key ca.crt front-proxy-ca.key front-proxy-ca.crt etcd/ca.key etcd/ca.crt sa.key sa.pub)
# In the etcd container, under its data directory: a host path too (/var/lib/etcd is mounted).
SNAPSHOT=/var/lib/etcd/metalk8s-backup.db

usage() {
    echo "Usage: $SCRIPT_NAME [-v|--verbose] [-l|--log-file FILE] [-b|--backup-file FILE]"
}

while [ $# -gt 0 ]; do
    case "$1" in
        -v|--verbose) VERBOSE=1; shift ;;
        -l|--log-file) [ $# -ge 2 ] || die "$1 needs a FILE"; LOGFILE=$2; shift 2 ;;
        -b|--backup-file) [ $# -ge 2 ] || die "$1 needs a FILE"; BACKUP_ARCHIVE=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done

STAGING=$(mktemp -d)
start_log backup
trap 'rm -rf "$STAGING" "$STEP_OUTPUT"' EXIT

backup_configuration() {
    [ -d "$(host_path /etc/metalk8s)" ] || die "/etc/metalk8s not found: is this the bootstrap node?"
    cp -a "$(host_path /etc/metalk8s)" "$STAGING/metalk8s"
}

backup_cas() {
    local file
    for file in "${CA_FILES[@]}"; do
        [ -f "$(host_path "/etc/kubernetes/pki/$file")" ] || die "/etc/kubernetes/pki/$file not found"
        mkdir -p "$(dirname "$STAGING/pki/$file")"
        cp -a "$(host_path "/etc/kubernetes/pki/$file")" "$STAGING/pki/$file"
    done
}

backup_etcd() {
    local container
    container=$("$CRICTL" ps -q --label io.kubernetes.pod.namespace=kube-system \
        --label io.kubernetes.container.name=etcd --state Running)
    [ -n "$container" ] || die "no running etcd container (crictl ps found none)"
    "$CRICTL" exec -i "$container" env ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 \
        --cert /etc/kubernetes/pki/etcd/salt-master-etcd-client.crt \
        --key /etc/kubernetes/pki/etcd/salt-master-etcd-client.key \
        --cacert /etc/kubernetes/pki/etcd/ca.crt \
        snapshot save "$SNAPSHOT"
    mv "$(host_path "$SNAPSHOT")" "$STAGING/etcd_snapshot"
}

create_archive() {
    local archive tmp
    archive=$(host_path "$BACKUP_ARCHIVE")
    mkdir -p "$(dirname "$archive")"
    tmp=$(mktemp "$(dirname "$archive")/.backup.XXXXXX")
    tar --create --gzip --file "$tmp" --directory "$STAGING" --sort=name --owner=0 --group=0 --numeric-owner . \
        || { rm -f "$tmp"; exit 1; }
    chmod 600 "$tmp"
    mv "$tmp" "$archive"
    echo "$BACKUP_ARCHIVE"
}

run "Backing up the MetalK8s configuration" backup_configuration
run "Backing up the certificate authorities" backup_cas
run "Backing up etcd" backup_etcd
run "Writing $BACKUP_ARCHIVE" create_archive
