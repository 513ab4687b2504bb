#!/bin/sh
//bin/true; f="$(readlink -f "$0")"; exec node "${f%/*}/buildchain/launch.mjs" "$f" "$@"
// ./build.ts: the MetalK8s build (upstream's ./doit.sh). The line above makes this file its own
// launcher: the shell runs it and starts the precompiled bundle; TypeScript sees a comment.
import { main } from './buildchain/engine/cli.ts';
import * as metalk8s from './tasks/index.ts';

process.exitCode = await main(process.argv.slice(2), metalk8s);
