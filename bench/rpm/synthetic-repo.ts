// Yum repositories of any size, fast: the packages a benchmark downloads are real RPMs (rpmbuild,
// createrepo_c), and thousands of filler packages exist in the metadata only (never fetched),
// with realistic entries: provides, requires between fillers, files, a description.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

interface Filler {
  primary: string;
  filelists: string;
  other: string;
}

function filler(index: number, count: number, descriptionBytes: number): Filler {
  const name = `filler${index}`;
  const pkgid = sha256(`${name}-${index}`);
  const requires = [1, 7, 31].map((step) => `filler${(index + step) % count}`);
  const files = ['/usr/bin/', '/usr/share/doc/', '/usr/lib/', '/etc/'].map((dir, k) => `${dir}${name}/file${k}`);
  const version = '<version epoch="0" ver="1.0" rel="1.el7"/>';
  return {
    primary: `<package type="rpm">
  <name>${name}</name>
  <arch>noarch</arch>
  ${version}
  <checksum type="sha256" pkgid="YES">${pkgid}</checksum>
  <summary>filler package ${index}</summary>
  <description>${randomBytes(Math.ceil(descriptionBytes * 0.75))
    .toString('base64')
    .slice(0, descriptionBytes)}</description>
  <packager></packager>
  <url>https://example.invalid/${name}</url>
  <time file="1600000000" build="1600000000"/>
  <size package="4096" installed="8192" archive="8600"/>
  <location href="Packages/${name}-1.0-1.el7.noarch.rpm"/>
  <format>
    <rpm:license>MIT</rpm:license>
    <rpm:vendor></rpm:vendor>
    <rpm:group>Unspecified</rpm:group>
    <rpm:buildhost>bench</rpm:buildhost>
    <rpm:sourcerpm>${name}-1.0-1.el7.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="6121"/>
    <rpm:provides>
      <rpm:entry name="${name}" flags="EQ" epoch="0" ver="1.0" rel="1.el7"/>
      <rpm:entry name="${name}-capability" flags="EQ" epoch="0" ver="1.0" rel="1.el7"/>
    </rpm:provides>
    <rpm:requires>
${requires.map((req) => `      <rpm:entry name="${req}" flags="GE" epoch="0" ver="1.0"/>`).join('\n')}
    </rpm:requires>
${files
  .filter((file) => file.startsWith('/usr/bin/') || file.startsWith('/etc/'))
  .map((file) => `    <file>${file}</file>`)
  .join('\n')}
  </format>
</package>
`,
    filelists: `<package pkgid="${pkgid}" name="${name}" arch="noarch">\n  ${version}\n${files.map((file) => `  <file>${file}</file>`).join('\n')}\n</package>\n`,
    other: `<package pkgid="${pkgid}" name="${name}" arch="noarch">\n  ${version}\n</package>\n`,
  };
}

const ROOTS = {
  primary: [
    '<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm"',
    '</metadata>',
  ],
  filelists: ['<filelists xmlns="http://linux.duke.edu/metadata/filelists"', '</filelists>'],
  other: ['<otherdata xmlns="http://linux.duke.edu/metadata/other"', '</otherdata>'],
} as const;

/** The package entries of a createrepo_c metadata file, without its root element. */
function entries(xml: string): string {
  const start = xml.indexOf('>', xml.indexOf('<', xml.indexOf('?>') + 2)) + 1;
  return xml.slice(start, xml.lastIndexOf('</')).trim();
}

/**
 * Adds `count` filler packages to the repository createrepo_c made in `dir` (its repodata is
 * rewritten: primary, filelists, other and repomd.xml). Returns the primary's uncompressed size.
 */
export function addFillers(dir: string, count: number, descriptionBytes = 400): number {
  const repodata = join(dir, 'repodata');
  const existing = readdirSync(repodata);
  const fillers = Array.from({ length: count }, (_, index) => filler(index, count, descriptionBytes));
  let primarySize = 0;
  const data: string[] = [];
  for (const type of ['primary', 'filelists', 'other'] as const) {
    const file = existing.find((name) => name.endsWith(`-${type}.xml.gz`))!;
    const real = gunzipSync(readFileSync(join(repodata, file))).toString('utf8');
    const realCount = Number(/packages="(\d+)"/.exec(real)![1]);
    const open = Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?>\n${ROOTS[type][0]} packages="${realCount + count}">\n${entries(real)}\n${fillers.map((f) => f[type]).join('')}${ROOTS[type][1]}\n`,
    );
    if (type === 'primary') primarySize = open.length;
    const compressed = gzipSync(open, { level: 6 });
    const digest = sha256(compressed);
    const location = `repodata/${digest}-${type}.xml.gz`;
    rmSync(join(repodata, file));
    writeFileSync(join(dir, location), compressed);
    data.push(`  <data type="${type}">
    <checksum type="sha256">${digest}</checksum>
    <open-checksum type="sha256">${sha256(open)}</open-checksum>
    <location href="${location}"/>
    <timestamp>1600000000</timestamp>
    <size>${compressed.length}</size>
    <open-size>${open.length}</open-size>
  </data>`);
  }
  writeFileSync(
    join(repodata, 'repomd.xml'),
    `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1600000000</revision>
${data.join('\n')}
</repomd>
`,
  );
  return primarySize;
}
