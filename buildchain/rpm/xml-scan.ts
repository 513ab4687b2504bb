// A streaming XML scanner over bytes, for yum's metadata (repomd, primary, filelists): what
// createrepo writes, and what XML allows there (attributes in any order and either quote, entity
// and character references, CDATA sections, comments, processing instructions), checked for
// well-formedness (every end tag closes the element it should). Tag and attribute names come as
// shared strings; an attribute value or a text is decoded only when the handler asks for it, so
// the bulk of a primary.xml (descriptions, summaries, changelogs) is skipped with memchr and
// never becomes a string. A DTD (and so any entity but XML's five) is refused: createrepo never
// writes one, and it is the way into entity expansion bombs.
//
// What the scanner holds is bounded: the token that a chunk cut (a tag, or a text the handler
// collects) and the text collected, each at most `maxTokenBytes`.

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const BANG = 0x21;
const QUESTION = 0x3f;
const EQUALS = 0x3d;
const QUOTE = 0x22;
const APOS = 0x27;
const DASH = 0x2d;
const BRACKET = 0x5b;

/**
 * Byte classes, looked up rather than computed: the scanner's loops run mostly before the JIT
 * has optimized them (a process reads one primary.xml), where every call and comparison counts.
 */
const SPACE = 1;
const NAME_END = 2;
const CLASS = new Uint8Array(256);
for (const c of [0x20, 0x0a, 0x09, 0x0d]) CLASS[c] = SPACE | NAME_END;
for (let c = 0; c < 0x20; c++) CLASS[c]! |= NAME_END;
for (const c of [SLASH, GT, EQUALS]) CLASS[c] = NAME_END;

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const REFERENCE = /&([^;&]*);?/g;

/** What the scanner reports, in document order; its errors are XmlErrors, a handler's pass through. */
export interface XmlHandler {
  /** A start tag's name; its attributes follow (when it answers true), then `openEnd`. */
  open(name: string): boolean;
  /** One attribute of the tag just opened: `value()` or `sharedValue()` decodes it if the handler wants it. */
  attribute(name: string): void;
  /** The end of a start tag (`empty` for `<tag/>`, which `close` follows at once). */
  openEnd(empty: boolean): void;
  close(name: string): void;
}

export class XmlError extends Error {}

/** Decodes the character and entity references of a text or attribute value. */
export function decodeReferences(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(REFERENCE, (whole, ref: string) => {
    if (!whole.endsWith(';')) throw new XmlError(`"&" not followed by a reference ("${whole.slice(0, 20)}")`);
    if (ref.startsWith('#')) {
      const hex = ref[1] === 'x';
      const digits = ref.slice(hex ? 2 : 1);
      const code = hex ? /^[0-9a-fA-F]{1,6}$/.test(digits) : /^[0-9]{1,7}$/.test(digits);
      const point = code ? Number.parseInt(digits, hex ? 16 : 10) : -1;
      if (point <= 0 || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff))
        throw new XmlError(`invalid character reference "${whole}"`);
      return String.fromCodePoint(point);
    }
    const named = NAMED[ref];
    if (named === undefined) throw new XmlError(`undefined entity "${whole.slice(0, 40)}"`);
    return named;
  });
}

export class XmlScanner {
  /** Set by the handler (in `openEnd`) to have the element's text collected into `text`. */
  collect = false;
  /** The text collected since `collect` was set (cleared by the handler). */
  text = '';
  /** Whether the text collected is to be shared as `sharedValue` shares values. */
  shareText = false;
  /** Bytes of the document consumed before the chunk being scanned. */
  offset = 0;
  /** Whether the root element has been closed. */
  done = false;
  /** Open elements, the root first. */
  readonly stack: string[] = [];

  #buffer: Buffer = EMPTY;
  #valueStart = 0;
  #valueEnd = 0;
  /** Name and value offsets of the attributes of the tag being read, four numbers each. */
  readonly #attributes: number[] = [];
  /** Names by a hash of their bytes; seeded with the handler's own (literal) names. */
  readonly #names = new Map<number, string>();
  /** Values and texts by a hash of their bytes (see sharedValue). */
  readonly #values = new Map<number, string>();
  #sawRoot = false;

  /** Whether the root element has begun. */
  get started(): boolean {
    return this.#sawRoot;
  }

  constructor(
    readonly handler: XmlHandler,
    readonly maxTokenBytes: number,
    known: readonly string[] = [],
  ) {
    for (const name of known) this.#names.set(hashOf(Buffer.from(name, 'latin1'), 0, name.length), name);
  }

  get depth(): number {
    return this.stack.length;
  }

  /** The current attribute's value, references decoded. */
  value(): string {
    return decodeReferences(this.#buffer.toString('utf8', this.#valueStart, this.#valueEnd));
  }

  /**
   * The same, as a string shared with the equal values seen before (versions, flags, capability
   * names repeat thousands of times): found by its bytes, without making a string to look it up.
   */
  sharedValue(): string {
    return this.#shared(this.#buffer, this.#valueStart, this.#valueEnd);
  }

  #shared(b: Buffer, start: number, end: number): string {
    let hash = 0;
    for (let i = start; i < end; i++) {
      const c = b[i]!;
      if (c === 0x26) return decodeReferences(b.toString('utf8', start, end));
      hash = (Math.imul(hash, 31) + c) | 0;
    }
    const values = this.#values;
    const known = values.get(hash);
    const length = end - start;
    if (known !== undefined && known.length === length) {
      let i = 0;
      while (i < length && known.charCodeAt(i) === b[start + i]) i++;
      if (i === length) return known;
    }
    const value = b.toString('utf8', start, end);
    if (known === undefined && values.size < 1 << 16) values.set(hash, value);
    return value;
  }

  /**
   * Scans one more chunk of the document. A token the last chunk cut is completed from the head
   * of this one, joined alone: copying whole chunks (a MiB each) would cost more than scanning them.
   */
  write(chunk: Buffer): void {
    const carry = this.#buffer;
    let from = 0;
    if (carry.length > 0) {
      for (let head = 4096; ; head *= 2) {
        const joined = Buffer.concat([carry, chunk.subarray(0, head)]);
        this.#buffer = joined;
        // The cut token either completes (what is consumed then reaches into the chunk) or not.
        const consumed = this.#scan(joined, 0);
        if (head >= chunk.length || consumed === 0) {
          if (head < chunk.length && joined.length <= this.maxTokenBytes) continue;
          this.#keep(joined, consumed);
          return;
        }
        this.offset += carry.length;
        from = consumed - carry.length;
        break;
      }
    }
    this.#buffer = chunk;
    this.#keep(chunk, this.#scan(chunk, from));
  }

  /** Keeps what `#scan` left of `b`, the buffer that starts at `offset` (a cut token), for the next chunk. */
  #keep(b: Buffer, consumed: number): void {
    this.offset += consumed;
    this.#buffer = consumed < b.length ? b.subarray(consumed) : EMPTY;
    if (this.#buffer.length > this.maxTokenBytes)
      throw new XmlError(`a tag or text of more than ${this.maxTokenBytes} bytes`);
  }

  /** The name of `length` bytes at `start` whose hash is `hash`, shared when seen before. */
  #name(b: Buffer, start: number, length: number, hash: number): string {
    const known = this.#names.get(hash);
    if (known !== undefined && known.length === length) {
      let i = 0;
      while (i < length && known.charCodeAt(i) === b[start + i]) i++;
      if (i === length) return known;
    }
    const name = b.toString('utf8', start, start + length);
    if (known === undefined && this.#names.size < 4096) this.#names.set(hash, name);
    return name;
  }

  #appendText(b: Buffer, start: number, end: number, raw: boolean): void {
    if (start === end) return;
    if (this.shareText && !raw && this.text === '') {
      this.text = this.#shared(b, start, end);
      return;
    }
    const text = b.toString('utf8', start, end);
    this.text += raw ? text : decodeReferences(text);
    if (this.text.length > this.maxTokenBytes) throw new XmlError(`a text of more than ${this.maxTokenBytes} bytes`);
  }

  #closed(name: string): void {
    this.collect = false;
    this.handler.close(name);
    if (this.stack.length === 0) this.done = true;
  }

  /** Scans what it can of `b`; returns how many bytes were consumed (the rest is an incomplete token). */
  #scan(b: Buffer, from: number): number {
    const n = b.length;
    const stack = this.stack;
    let pos = from;
    while (pos < n) {
      if (b[pos] !== LT) {
        // Text: looked for in JavaScript first, a call into C++ (Buffer#indexOf) costing more
        // than the few bytes of most texts; a long one (a description) is left to its memchr.
        let lt = pos + 1;
        const stop = Math.min(n, pos + 64);
        while (lt < stop && b[lt] !== LT) lt++;
        if (lt === stop) lt = stop < n ? b.indexOf(LT, stop) : -1;
        if (stack.length === 0) {
          for (let i = pos, end = lt < 0 ? n : lt; i < end; i++)
            if ((CLASS[b[i]!]! & SPACE) === 0)
              throw new XmlError(this.done ? 'content after the root element' : 'text outside the root element');
        }
        if (lt < 0) return this.collect ? pos : n; // collected text goes on in the next chunk
        if (this.collect) this.#appendText(b, pos, lt, false);
        pos = lt;
        continue;
      }
      if (pos + 1 >= n) return pos;
      const next = b[pos + 1]!;
      if (next === SLASH) {
        const open = stack[stack.length - 1];
        let end = pos + 2;
        while (end < n && (CLASS[b[end]!]! & NAME_END) === 0) end++;
        let gt = end;
        while (gt < n && (CLASS[b[gt]!]! & SPACE) !== 0) gt++;
        if (gt >= n) return pos;
        if (b[gt] !== GT) throw new XmlError('malformed end tag');
        const length = end - pos - 2;
        let same = open !== undefined && open.length === length;
        for (let i = 0; same && i < length; i++) same = open!.charCodeAt(i) === b[pos + 2 + i];
        if (!same) {
          const name = b.toString('utf8', pos + 2, end);
          throw new XmlError(
            open === undefined ? `end tag </${name}> without a start tag` : `</${name}> closes <${open}>`,
          );
        }
        stack.pop();
        this.#closed(open!);
        pos = gt + 1;
        continue;
      }
      const at =
        next === BANG ? this.#special(b, pos) : next === QUESTION ? processingEnd(b, pos) : this.#startTag(b, pos);
      if (at < 0) return pos;
      pos = at;
    }
    return pos;
  }

  /** `<!--`, `<![CDATA[` or `<!DOCTYPE` at `pos`: where it ends, or -1 when the chunk cut it. */
  #special(b: Buffer, pos: number): number {
    if (pos + 4 > b.length) return -1;
    if (b[pos + 2] === DASH && b[pos + 3] === DASH) {
      const close = b.indexOf('-->', pos + 4);
      return close < 0 ? -1 : close + 3;
    }
    if (pos + 9 > b.length) return -1;
    if (b[pos + 2] === BRACKET && b.toString('latin1', pos + 3, pos + 9) === 'CDATA[') {
      if (this.stack.length === 0) throw new XmlError('a CDATA section outside the root element');
      const close = b.indexOf(']]>', pos + 9);
      if (close < 0) return -1;
      if (this.collect) this.#appendText(b, pos + 9, close, true);
      return close + 3;
    }
    if (b.toString('latin1', pos + 2, pos + 9) === 'DOCTYPE')
      throw new XmlError('a document type declaration (DTD), which yum metadata never has');
    throw new XmlError('malformed markup after "<!"');
  }

  /** The start tag at `pos`: where it ends, or -1 when the chunk cut it. */
  #startTag(b: Buffer, pos: number): number {
    const n = b.length;
    let at = pos + 1;
    let hash = 0;
    for (let c = b[at]!; at < n && (CLASS[c]! & NAME_END) === 0; c = b[++at]!) hash = (Math.imul(hash, 31) + c) | 0;
    const nameLength = at - pos - 1;
    if (at >= n) return -1;
    if (nameLength === 0) throw new XmlError('"<" not followed by a name');
    // A tag is reported only once it is whole, so that a cut one can be scanned again.
    const attributes = this.#attributes;
    let count = 0;
    let empty = false;
    for (;;) {
      while (at < n && (CLASS[b[at]!]! & SPACE) !== 0) at++;
      if (at >= n) return -1;
      const c = b[at]!;
      if (c === GT) break;
      if (c === SLASH) {
        if (at + 1 >= n) return -1;
        if (b[at + 1] !== GT) throw new XmlError('"/" not followed by ">" in a tag');
        empty = true;
        at++;
        break;
      }
      const nameStart = at;
      while (at < n && (CLASS[b[at]!]! & NAME_END) === 0) at++;
      const attributeEnd = at;
      if (attributeEnd === nameStart) throw new XmlError('malformed attribute');
      while (at < n && (CLASS[b[at]!]! & SPACE) !== 0) at++;
      if (at >= n) return -1;
      if (b[at] !== EQUALS) throw new XmlError('attribute without "="');
      at++;
      while (at < n && (CLASS[b[at]!]! & SPACE) !== 0) at++;
      if (at >= n) return -1;
      const quote = b[at]!;
      if (quote !== QUOTE && quote !== APOS) throw new XmlError('attribute value without quotes');
      let close = at + 1;
      for (let v = b[close]; close < n && v !== quote; v = b[++close]) {
        if (v === LT) throw new XmlError('"<" in an attribute value');
      }
      if (close >= n) return -1;
      attributes[count] = nameStart;
      attributes[count + 1] = attributeEnd;
      attributes[count + 2] = at + 1;
      attributes[count + 3] = close;
      count += 4;
      at = close + 1;
      if (at < n && (CLASS[b[at]!]! & NAME_END) === 0) throw new XmlError('no space between attributes');
    }
    if (this.done) throw new XmlError('content after the root element');
    if (this.stack.length === 0) {
      if (this.#sawRoot) throw new XmlError('a second root element');
      this.#sawRoot = true;
    }
    const name = this.#name(b, pos + 1, nameLength, hash);
    const handler = this.handler;
    this.stack.push(name);
    this.collect = false;
    if (handler.open(name)) {
      for (let i = 0; i < count; i += 4) {
        const start = attributes[i]!;
        const end = attributes[i + 1]!;
        this.#valueStart = attributes[i + 2]!;
        this.#valueEnd = attributes[i + 3]!;
        handler.attribute(this.#name(b, start, end - start, hashOf(b, start, end)));
      }
    }
    handler.openEnd(empty);
    if (empty) {
      this.stack.pop();
      this.#closed(name);
    }
    return at + 1;
  }
}

const EMPTY = Buffer.alloc(0);

function hashOf(b: Buffer, start: number, end: number): number {
  let hash = 0;
  for (let i = start; i < end; i++) hash = (Math.imul(hash, 31) + b[i]!) | 0;
  return hash;
}

/** Where the processing instruction (`<?...?>`) at `pos` ends, or -1 when the chunk cut it. */
function processingEnd(b: Buffer, pos: number): number {
  const close = b.indexOf('?>', pos + 2);
  return close < 0 ? -1 : close + 2;
}
