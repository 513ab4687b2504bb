import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.ts';
import { missingImages, namedImages, readFormulaFile, type IsoImages } from './images.ts';

// Each form MetalK8s 2.4.1's formula names images with, and the look-alikes around them.
const STATE = [
  '{%- from "metalk8s/repo/macro.sls" import build_image_name with context %}', // 1
  "{%- macro build_image_name(name='', include_tag=True) -%}{%- endmacro %}", // 2: the macro itself
  "{%- set image = build_image_name('kube-proxy') -%}", // 3
  '{# image: {{ build_image_name("commented-out") }} #}', // 4
  '        #  image: calico/cni:v3.8.2', // 5
  '        image: \'{%- endraw -%}{{ build_image_name("node-exporter", False) }}{%- raw', // 6
  "          -%}:v0.18.0'", // 7
  '        - --prometheus-config-reloader={%- endraw -%}{{ build_image_name("prometheus-config-reloader",', // 8
  '          False) }}{%- raw -%}:v0.32.0', // 9
  "{% set salt_version = repo.images['salt-master'].version %}", // 10
  '  image:', // 11: a schema's key, not a value
  '    repository: docker.io/grafana/grafana', // 12
  '    pullPolicy: IfNotPresent', // 13
  '    tag: 6.4.2', // 14
  '  baseImage: \'{{ build_image_name("alertmanager", False) }}\'', // 15
  '  nested:', // 16
  '    version: v9.9.9', // 17: deeper, another mapping's
  '  version: v0.19.0', // 18
  '---', // 19
  '  baseImage: \'{{ build_image_name("prometheus", False) }}\'', // 20: no version in its mapping
  '      image: metalk8s-registry-from-config.invalid/metalk8s-2.4.1/coredns:1.3.1', // 21
  '      image: {{ image_name }}', // 22
  '',
].join('\n');

const ISO: IsoImages = {
  prefix: 'metalk8s-2.4.1',
  served: [
    { name: 'kube-proxy', version: 'v1.15.5' },
    { name: 'node-exporter', version: 'v0.18.0' },
    { name: 'prometheus-config-reloader', version: 'v0.32.0' },
    { name: 'salt-master', version: '2018.3.4-1' },
    { name: 'alertmanager', version: 'v0.19.0' },
    { name: 'prometheus', version: 'v2.12.0' },
    { name: 'coredns', version: '1.3.1' },
  ],
  imported: [
    { name: 'grafana', reference: 'docker.io/grafana/grafana', version: '6.4.2' },
    { name: 'pause', reference: 'k8s.gcr.io/pause', version: '3.1' },
  ],
};

describe('the images a Salt formula names', () => {
  it('reads every form of the formula with the line that gives the tag, and skips comments, schemas and variables', () => {
    expect(namedImages(STATE, 'chart.sls')).toEqual([
      { where: 'chart.sls:3', kind: 'registry', name: 'kube-proxy' },
      { where: 'chart.sls:6', kind: 'registry', name: 'node-exporter', tag: 'v0.18.0' },
      { where: 'chart.sls:8', kind: 'registry', name: 'prometheus-config-reloader', tag: 'v0.32.0' },
      { where: 'chart.sls:18', kind: 'registry', name: 'alertmanager', tag: 'v0.19.0' },
      { where: 'chart.sls:20', kind: 'registry', name: 'prometheus' },
      { where: 'chart.sls:10', kind: 'declared', name: 'salt-master' },
      { where: 'chart.sls:14', kind: 'literal', name: 'docker.io/grafana/grafana', tag: '6.4.2' },
      {
        where: 'chart.sls:21',
        kind: 'literal',
        name: 'metalk8s-registry-from-config.invalid/metalk8s-2.4.1/coredns',
        tag: '1.3.1',
      },
    ]);
    expect(missingImages(namedImages(STATE, 'chart.sls'), ISO)).toEqual([]);
  });

  it('names each image the ISO lacks, with what it has instead', () => {
    const iso: IsoImages = {
      prefix: 'metalk8s-2.4.2',
      served: [
        { name: 'alertmanager', version: 'v0.20.0' },
        { name: 'node-exporter', version: 'v0.18.0' },
      ],
      imported: [{ name: 'nginx', reference: 'docker.io/library/nginx', version: '1.15.8' }],
    };
    const named = namedImages(
      [
        '  baseImage: \'{{ build_image_name("alertmanager", False) }}\'',
        '  version: v0.19.0',
        '---',
        '  image: {{ build_image_name("nginx") }}',
        '  image: {{ build_image_name("node-exporter") }}',
        '  image: metalk8s-registry-from-config.invalid/metalk8s-2.4.1/node-exporter:v0.18.0',
        '  image: k8s.gcr.io/pause:3.1',
        "{%- set version = repo.images.get('etcd', {}).get('version') %}",
      ].join('\n'),
      'x.sls',
    );
    expect(missingImages(named, iso).map(({ image, why }) => `${image.where}: ${why}`)).toEqual([
      'x.sls:2: alertmanager:v0.19.0 (the ISO has alertmanager:v0.20.0)',
      "x.sls:4: nginx: the ISO's registry serves no image of that name (it is imported from an archive, not served)",
      'x.sls:8: etcd: no image of that name in the ISO (nor in versions.json)',
      'x.sls:6: metalk8s-registry-from-config.invalid/metalk8s-2.4.1/node-exporter:v0.18.0: not in the ISO (its registry serves metalk8s-2.4.2/<name>:<version>; archives are imported under their source reference)',
      'x.sls:7: k8s.gcr.io/pause:3.1: not in the ISO (its registry serves metalk8s-2.4.2/<name>:<version>; archives are imported under their source reference)',
    ]);
  });

  it('reads a formula file whole, and refuses one larger than any formula file', async () => {
    const file = join(tempDir(), 'big.sls');
    writeFileSync(file, 'x'.repeat(1000));
    expect(await readFormulaFile(file)).toHaveLength(1000);
    writeFileSync(file, Buffer.alloc((16 << 20) + 1));
    await expect(readFormulaFile(file)).rejects.toThrow(
      `${file}: 16777217 bytes, more than the 16777216 a Salt formula file may have`,
    );
  });
});
