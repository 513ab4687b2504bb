// publish: the built ISO and the files beside it, pushed to PUBLISH_REGISTRY as one OCI artifact
// (buildchain/release/publish.ts). Asked for by name only: a build never pushes on its own.
import { BuildError } from '../buildchain/errors.ts';
import type { TaskDefinition } from '../buildchain/engine/task.ts';
import { parseReference } from '../buildchain/oci/reference.ts';
import { publishRelease, releaseTarget } from '../buildchain/release/publish.ts';
import type { BuildContext } from './context.ts';

export function publishTasks({ config, paths }: BuildContext): TaskDefinition[] {
  const repository = config.projectName.toLowerCase();
  // A tag may not hold '+' (semver build metadata): written '_', as Helm does for OCI charts.
  const tag = config.version.full.replace(/\+/g, '_');
  return [
    {
      name: 'publish',
      doc: `Push the ISO with SHA256SUM, signature, SBOM and provenance to PUBLISH_REGISTRY/${repository}:<version> as one OCI artifact.`,
      task_dep: ['iso'],
      uptodate: [false], // the registry's content is not ours to know: push (what is there is skipped) whenever asked
      actions: [
        async (ctx) => {
          if (!config.publishRegistry)
            throw new BuildError('publish: PUBLISH_REGISTRY is not set (the registry, and a namespace, to push to)', [
              'PUBLISH_REGISTRY=registry.example.com/releases',
            ]);
          const ref = parseReference(
            `${config.publishRegistry}/${repository}:${tag}`,
            `PUBLISH_REGISTRY (${config.origin('PUBLISH_REGISTRY')})`,
          );
          const published = await publishRelease(paths.iso, { ...ref, tag }, releaseTarget(ref, ctx.signal));
          for (const line of published.missing) ctx.log(line);
          const uploaded = published.files.filter((file) => file.push === 'uploaded').length;
          ctx.log(
            `${published.reference}: ${published.files.length} files (${uploaded} uploaded), ${published.referrers.length} referrers`,
          );
        },
      ],
    },
  ];
}
