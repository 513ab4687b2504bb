// primary.xml read by our scanner: what createrepo writes and what XML allows there (entities,
// single quotes, self-closed sections, any chunk boundary), and refusals naming the file.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parsePrimary } from './metadata.ts';

const PACKAGE = `<package type="rpm">
  <name>c++-tools</name>
  <arch>x86_64</arch>
  <version epoch="2" ver="1.0" rel="3.el7"/>
  <checksum type="sha256" pkgid="YES">${'ab'.repeat(32)}</checksum>
  <summary>tools &lt;for&gt; C++</summary>
  <description>a &amp; b, with </package> nowhere</description>
  <size package='1234' installed="1" archive="2"/>
  <location xml:base="http://mirror.example/" href="Packages/c/c&#43;&#x2B;-tools-1.0-3.el7.x86_64.rpm"/>
  <format>
    <rpm:sourcerpm>c++-tools-1.0-3.el7.src.rpm</rpm:sourcerpm>
    <rpm:provides>
      <rpm:entry name="c++-tools" flags="EQ" epoch="2" ver="1.0" rel="3.el7"/>
      <rpm:entry name="libtool.so.1()(64bit)"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="/bin/sh" pre="1"/>
      <rpm:entry name="glibc" flags="GE" epoch="0" ver="2.17"/>
    </rpm:requires>
    <rpm:obsoletes/>
    <file>/usr/bin/c++tool</file>
    <file type="dir">/etc/c++ &amp; more</file>
  </format>
</package>
`.replace('with </package> nowhere', 'with nothing more');
const NOARCH = `<package type="rpm"><name>doc</name><arch>noarch</arch><version epoch="0" ver="2" rel="1"/><checksum type="sha256" pkgid="YES">${'cd'.repeat(32)}</checksum><location href="doc-2-1.noarch.rpm"/><size package="9"/><format><rpm:provides/><rpm:requires/></format></package>`;

function primary(packages: string[], declared = packages.length): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="${declared}">\n${packages.join('')}</metadata>\n`;
}

/** The document cut into chunks of `size` characters, as a stream would deliver it. */
function chunked(text: string, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < text.length; at += size) chunks.push(Buffer.from(text.slice(at, at + size)));
  return Readable.from(chunks);
}

describe('parsePrimary', () => {
  it('reads names, versions, checksums, capabilities and files, at any chunk boundary', async () => {
    const text = primary([PACKAGE, NOARCH]);
    const expected = await parsePrimary(chunked(text, text.length), 'os', 'primary.xml');
    expect(expected[0]).toMatchObject({
      repo: 'os',
      name: 'c++-tools',
      arch: 'x86_64',
      epoch: '2',
      version: '1.0',
      release: '3.el7',
      checksum: { type: 'sha256', value: 'ab'.repeat(32) },
      location: 'Packages/c/c++-tools-1.0-3.el7.x86_64.rpm',
      size: 1234,
      sourcerpm: 'c++-tools-1.0-3.el7.src.rpm',
      provides: [
        { name: 'c++-tools', flags: 'EQ', evr: { epoch: '2', version: '1.0', release: '3.el7' } },
        { name: 'libtool.so.1()(64bit)' },
      ],
      requires: [{ name: '/bin/sh' }, { name: 'glibc', flags: 'GE', evr: { epoch: '0', version: '2.17' } }],
      files: ['/usr/bin/c++tool', '/etc/c++ & more'],
    });
    expect(expected[1]).toMatchObject({ name: 'doc', arch: 'noarch', provides: [], requires: [], files: [] });
    for (const size of [1, 7, 64, 333]) {
      expect(await parsePrimary(chunked(text, size), 'os', 'primary.xml'), `chunks of ${size}`).toEqual(expected);
    }
  });

  it('reads what XML allows beyond createrepo: CDATA, comments, attributes in any order, ">" in values', async () => {
    const odd = `<?xml version="1.0"?>
<!-- written by hand -->
<metadata packages='1' xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
<package type="rpm"><!-- <name>not-this</name> -->
  <name><![CDATA[a<b]]>&amp;c</name><arch>noarch</arch>
  <version rel="1" ver="2.0" epoch="0"/>
  <description><![CDATA[</package> and <name>x</name>]]></description>
  <checksum pkgid="YES" type="sha256">
    ${'ef'.repeat(32)}
  </checksum>
  <location href = 'p/a&#x3c;b.rpm' />
  <size archive="1" package="77"/>
  <format><?pi <name>no</name> ?>
    <rpm:provides><rpm:entry ver="1" flags="GE" name="x &gt; y" rel="2"/></rpm:provides>
    <rpm:requires><rpm:entry name="weird>name"/></rpm:requires>
    <other><file>/not/a/file</file></other>
  </format>
</package>
</metadata>
`;
    for (const size of [1, 5, 4096]) {
      const [pkg] = await parsePrimary(chunked(odd, size), 'os', 'primary.xml');
      expect(pkg, `chunks of ${size}`).toEqual({
        repo: 'os',
        name: 'a<b&c',
        arch: 'noarch',
        epoch: '0',
        version: '2.0',
        release: '1',
        checksum: { type: 'sha256', value: 'ef'.repeat(32) },
        location: 'p/a<b.rpm',
        size: 77,
        sourcerpm: '',
        provides: [{ name: 'x > y', flags: 'GE', evr: { epoch: '0', version: '1', release: '2' } }],
        requires: [{ name: 'weird>name' }],
        files: [],
      });
    }
  });

  it('reads UTF-8 cut anywhere, even inside a character', async () => {
    const text = primary([
      NOARCH.replace('<name>doc</name>', '<name>doc-é</name>')
        .replace('href="doc-2-1.noarch.rpm"', 'href="日本/doc-2-1.noarch.rpm"')
        .replace('<rpm:requires/>', '<rpm:requires><rpm:entry name="libé😀"/></rpm:requires><file>/usr/bin/ça</file>'),
    ]);
    const bytes = Buffer.from(text);
    for (const size of [1, 2, 3]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
      const [pkg] = await parsePrimary(Readable.from(chunks), 'os', 'primary.xml');
      expect(pkg, `chunks of ${size} bytes`).toMatchObject({
        name: 'doc-é',
        location: '日本/doc-2-1.noarch.rpm',
        requires: [{ name: 'libé😀' }],
        files: ['/usr/bin/ça'],
      });
    }
  });

  it.each([
    ['a mismatched end tag', (text: string) => text.replace('</arch>', '</name>'), 'not well-formed XML'],
    ['an undefined entity', (text: string) => text.replace('<name>doc', '<name>&doc;'), 'undefined entity "&doc;"'],
    ['a DTD', (text: string) => text.replace('<metadata', '<!DOCTYPE m [<!ENTITY a "b">]><metadata'), 'DTD'],
    ['"<" in an attribute', (text: string) => text.replace('ver="2"', 'ver="<2"'), '"<" in an attribute value'],
    ['another root element', (text: string) => `${text}<metadata/>`, 'content after the root element'],
    ['a text of binary bytes', () => '\u0000\u0001 <metadata', 'not a primary.xml (text outside the root element)'],
  ])('refuses %s, naming the file', async (_what, edit, message) => {
    await expect(parsePrimary(chunked(edit(primary([NOARCH])), 13), 'os', 'x/primary.xml')).rejects.toThrow(message);
  });

  it('refuses a truncated file, a wrong package count and an entry without a checksum', async () => {
    const text = primary([PACKAGE, NOARCH]);
    await expect(parsePrimary(chunked(text.slice(0, text.length - 20), 50), 'os', 'x/primary.xml.gz')).rejects.toThrow(
      'x/primary.xml.gz: truncated or not a primary.xml',
    );
    await expect(parsePrimary(chunked(primary([PACKAGE], 2), 50), 'os', 'x/primary.xml.gz')).rejects.toThrow(
      'x/primary.xml.gz: declares 2 packages, 1 read',
    );
    await expect(
      parsePrimary(chunked(primary([NOARCH.replace(/<checksum.*<\/checksum>/, '')]), 50), 'os', 'x/primary.xml.gz'),
    ).rejects.toThrow('lacks its name, arch, version, location or checksum (doc)');
  });
});
