// A JSON request body read as its text arrives (a BodyReader for body_stream.ts), for bodies
// that carry one very long string: fvsadm -R's whole input as "stdin" (a large site's save is
// 5 MB). Such a string is never joined or parsed in one go — that took the event loop for
// 60-100 ms on its own — but decoded a piece at a time as it arrives and kept as pieces; it
// stands in the parsed document as a placeholder that text() turns back into the pieces. The
// rest of the document (the short strings and everything between) is parsed whole at the end.
import { randomBytes } from 'node:crypto';
import { ApiError } from './errors';

/** A string whose raw JSON text is longer than this is kept as pieces... */
const LONG = 1 << 16;
/** ...of at least this much raw text each: a string this large is made outside the young
 * generation, so the collections during a restore do not copy it (twice) as it survives. */
const PIECE = 1 << 18;

export class JsonPieces {
  /** The document's text without its long strings (placeholders instead). */
  private skeleton: string[] = [];
  private inString = false;
  /** The current string's raw text (between its quotes), while it is short. */
  private raw: string[] = [];
  private rawLength = 0;
  /** The current string's decoded pieces, once it is long (its raw text in `raw` until there
   * is a PIECE of it). */
  private decoded?: string[];
  /** Raw text held back: an escape that the next piece completes. */
  private held = '';
  private readonly long = new Map<string, string[]>();
  private readonly nonce = randomBytes(8).toString('hex');

  piece(text: string): void {
    let i = 0;
    if (this.held) {
      text = this.held + text;
      this.held = '';
    }
    while (i < text.length) {
      if (!this.inString) {
        const q = text.indexOf('"', i);
        if (q < 0) { this.skeleton.push(text.slice(i)); return; }
        this.skeleton.push(text.slice(i, q));
        this.inString = true;
        i = q + 1;
        continue;
      }
      // In a string: up to its closing quote, stepping over escapes.
      const end = closingQuote(text, i);
      if (end.at < 0) {
        // The piece ends inside the string, perhaps inside an escape: that part waits.
        this.add(text.slice(i, end.escapeAt < 0 ? text.length : end.escapeAt));
        if (end.escapeAt >= 0) this.held = text.slice(end.escapeAt);
        return;
      }
      this.add(text.slice(i, end.at));
      this.finishString();
      i = end.at + 1;
    }
  }

  /** The parsed document (long strings as placeholders: text() gives their pieces). */
  end(): unknown {
    if (this.inString || this.held) throw new ApiError(400, 'the body is not valid JSON: it ends inside a string');
    return parseJson(this.skeleton.join(''));
  }

  /** A string of the parsed document as pieces: a long one's, or the string itself. */
  text(v: string): readonly string[] {
    return this.long.get(v) ?? [v];
  }

  private add(raw: string): void {
    if (!raw) return;
    this.raw.push(raw);
    this.rawLength += raw.length;
    if (this.rawLength > (this.decoded ? PIECE : LONG)) this.decodeRaw();
  }

  private decodeRaw(): void {
    (this.decoded ??= []).push(decode(this.raw.join('')));
    this.raw = [];
    this.rawLength = 0;
  }

  private finishString(): void {
    if (this.decoded) {
      if (this.raw.length) this.decodeRaw();
      const name = `\u0000${this.nonce}:${this.long.size}`;
      this.long.set(name, this.decoded);
      this.skeleton.push(JSON.stringify(name));
    } else {
      this.skeleton.push('"', ...this.raw, '"');
    }
    this.inString = false;
    this.raw = [];
    this.rawLength = 0;
    this.decoded = undefined;
  }
}

/** Where a string's closing quote is in text from `from` (-1: not in this text) and, when it
 * is not, where an escape cut by the text's end starts (-1: none). */
function closingQuote(text: string, from: number): { at: number; escapeAt: number } {
  const special = /["\\]/g;
  special.lastIndex = from;
  for (let m = special.exec(text); m; m = special.exec(text)) {
    if (m[0] === '"') return { at: m.index, escapeAt: -1 };
    // \uXXXX is six characters, the others two.
    const len = text[m.index + 1] === 'u' ? 6 : 2;
    if (m.index + len > text.length) return { at: -1, escapeAt: m.index };
    special.lastIndex = m.index + len;
  }
  return { at: -1, escapeAt: -1 };
}

/** A piece of a string's raw JSON text (whole escapes only), decoded. */
function decode(raw: string): string {
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch (e) {
    throw new ApiError(400, `the body is not valid JSON: ${(e as Error).message}`);
  }
}

/** JSON.parse, refusing what secure-json-parse (fastify's own parser) refuses: keys that
 * would reach an object's prototype. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text, (k, v: unknown) => {
      if (k === '__proto__' || (k === 'constructor' && v !== null && typeof v === 'object' && 'prototype' in v)) throw new SyntaxError('Object contains forbidden prototype property');
      return v;
    });
  } catch (e) {
    throw new ApiError(400, `the body is not valid JSON: ${(e as Error).message}`);
  }
}
