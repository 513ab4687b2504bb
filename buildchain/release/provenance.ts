// The ISO's provenance: an in-toto Statement (v1) with a SLSA Provenance (v1) predicate, naming
// the ISO by its sha256, the build's parameters, and every resolved input (the source revision,
// each image and package, from the ISO's SBOM). Written beside the ISO as
// <iso>.provenance.json; deterministic for the same inputs.

export interface ProvenanceInput {
  isoName: string;
  isoSha256: string;
  /** The build's parameters that decide the output (project, version, SOURCE_DATE_EPOCH...). */
  parameters: Record<string, string | number | null>;
  /** `git describe` of the source tree, when known. */
  sourceRevision: string | undefined;
  /** The SBOM's packages: each input's purl and sha256. */
  sbomPackages: readonly {
    primaryPackagePurpose?: string;
    versionInfo?: string;
    externalRefs?: { referenceType: string; referenceLocator: string }[];
    checksums?: { algorithm: string; checksumValue: string }[];
    packageFileName?: string;
  }[];
  builderId: string;
}

export function provenanceStatement(input: ProvenanceInput): Record<string, unknown> {
  const dependencies = input.sbomPackages.map((pkg) => ({
    uri: pkg.externalRefs?.find((ref) => ref.referenceType === 'purl')?.referenceLocator ?? pkg.packageFileName ?? '',
    digest: {
      sha256: pkg.checksums?.find((checksum) => checksum.algorithm === 'SHA256')?.checksumValue ?? '',
      // A source is named by its commit too, as SLSA's digest set allows.
      ...(pkg.primaryPackagePurpose === 'SOURCE' && pkg.versionInfo ? { gitCommit: pkg.versionInfo } : {}),
    },
    ...(pkg.packageFileName ? { name: pkg.packageFileName } : {}),
  }));
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: input.isoName, digest: { sha256: input.isoSha256 } }],
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: {
      buildDefinition: {
        buildType: 'https://github.com/scality/metalk8s/buildchain/iso@v1',
        externalParameters: input.parameters,
        resolvedDependencies: [
          ...(input.sourceRevision
            ? [{ uri: 'git+https://github.com/scality/metalk8s', annotations: { describe: input.sourceRevision } }]
            : []),
          ...dependencies,
        ],
      },
      runDetails: { builder: { id: input.builderId } },
    },
  };
}
