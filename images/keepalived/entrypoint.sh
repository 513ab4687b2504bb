#!/bin/bash
# Starts keepalived with the configuration the node gives it: a generator script mounted at
# /etc/keepalived/keepalived.conf.sh writes one under /var/run first, else the mounted
# /etc/keepalived/keepalived.conf is used as it is. Arguments go to keepalived (the image's Cmd).
set -xeuo pipefail

generator=/etc/keepalived/keepalived.conf.sh
if [ -x "$generator" ]; then
    conf=/var/run/keepalived.conf
    "$generator" "$conf"
else
    conf=/etc/keepalived/keepalived.conf
fi

if [ ! -f "$conf" ]; then
    echo "no keepalived configuration at $conf" >&2
    exit 1
fi

exec keepalived --use-file "$conf" "$@"
