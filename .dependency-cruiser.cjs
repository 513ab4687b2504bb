// The import rules of the house, checked by `./build.ts lint` (lint:imports) with dependency-cruiser.
// Folders are layers in one order, lowest first: a module imports only from its own folder or a
// lower one, so no folder cycle can form. Tests, benchmarks and the demo sit above everything.
'use strict';

/** Lowest first. `buildchain` alone is buildchain/'s root: basic helpers only. */
const LAYERS = [
  'buildchain',
  'buildchain/fs',
  'buildchain/schema',
  'buildchain/store',
  'buildchain/launch',
  'buildchain/engine',
  'buildchain/iso9660',
  'buildchain/sources',
  'buildchain/sphinx',
  'buildchain/vagrant',
  'buildchain/rpm',
  'buildchain/oci',
  // Above oci: the formula's image check reads references with oci's parser.
  'buildchain/salt',
  'buildchain/release',
  'buildchain/offline',
  'buildchain/cache',
  'static-registry',
  'agent',
  'tasks',
];

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** The modules of a layer: buildchain/'s root files, or a folder's whole tree. */
const modulesOf = (layer) => (layer === 'buildchain' ? '^buildchain/[^/]+$' : `^${escape(layer)}/`);

const layerRules = LAYERS.map((layer, rank) => ({
  name: `layer-${layer.replace(/\//g, '-')}`,
  severity: 'error',
  comment: `${layer} imports only its own folder and the layers below it (${LAYERS.slice(0, rank).join(', ') || 'none'})`,
  from: { path: modulesOf(layer), pathNot: '\\.test\\.ts$' },
  to: {
    path: LAYERS.slice(rank + 1)
      .map(modulesOf)
      .concat('^(test|bench|demo)/', '^[^/]+\\.ts$'),
  },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'engine-knows-no-project',
      severity: 'error',
      comment: 'the engine is told its project (tasks, build root, defaults) by its caller; it imports no project code',
      from: { path: '^buildchain/engine/' },
      to: { path: '^(tasks|agent|static-registry|images|packages-rpm|scripts|salt-tree)/' },
    },
    {
      name: 'task-families-apart',
      severity: 'error',
      comment: 'a tasks/ family imports no other family: what they share is in context.ts (or buildchain/)',
      from: { path: '^tasks/[^/]+\\.ts$', pathNot: ['^tasks/index\\.ts$', '\\.test\\.ts$'] },
      to: { path: '^tasks/[^/]+\\.ts$', pathNot: ['^tasks/(config|context)\\.ts$'] },
    },
    {
      name: 'no-module-cycle',
      severity: 'error',
      comment: 'modules import one another one way',
      from: { pathNot: '\\.test\\.ts$' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|_build)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6', 'cjs'],
  },
};
