#!/bin/sh
//bin/true; f=$0; [ -L "$f" ] && f=$(readlink -f "$f"); case $f in */*) ;; *) f=./$f ;; esac; [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && export METALK8S_DEFERRED_CA_CERTS="$NODE_EXTRA_CA_CERTS" && unset NODE_EXTRA_CA_CERTS; exec node "${f%/*}/buildchain/launch/launch.cjs" "$f" "$@"
// ./build.ts: the MetalK8s build (upstream's ./doit.sh). The line above makes this file its own
// launcher: the shell runs it and starts the precompiled bundle; TypeScript sees a comment.
// It also defers NODE_EXTRA_CA_CERTS (see buildchain/launch/launch.cjs).
import { main } from './buildchain/engine/cli.ts';

// Loaded only when no -f names another task file: the MetalK8s tasks are most of the bundle.
void main(process.argv.slice(2), () => import('./tasks/index.ts')).then((code) => {
  process.exitCode = code;
});
