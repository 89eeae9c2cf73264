// Large JSON written out a slice of the event loop at a time: at 10,000 services × 10 real
// servers a listing is tens of MB of JSON, whose one JSON.stringify (and the objects behind
// it) held the event loop for 1-2 s. It goes out in pieces as it is made (text_pieces.ts). As NDJSON
// (one item a line) a reader can parse it as it arrives, a line at a time, too. A long
// string (fvsadm -Ln's output of such a table: 7 MB) goes out the same way.
import { Readable } from 'node:stream';
import { breathe } from '../control/slices';
import { jsonItemPieces } from '../control/text_pieces';

/** The items as one JSON array, made as the stream is read; `head` and `tail` (JSON text)
 * put it inside a document (`{"a":1,"list":` ... `}`). */
export function jsonArrayStream<T>(items: Iterable<T>, toJson: (t: T) => unknown, head = '', tail = ''): Readable {
  return Readable.from(jsonItemPieces(items, toJson, { open: head + '[', sep: ',', close: ']' + tail }), { objectMode: false });
}

/** The items as NDJSON: each one's JSON and a newline. */
export function ndjsonStream<T>(items: Iterable<T>, toJson: (t: T) => unknown): Readable {
  const gen = (async function* () {
    let any = false;
    for await (const p of jsonItemPieces(items, toJson, { open: '', sep: '\n', close: '' })) {
      any ||= p.length > 0;
      yield p;
    }
    if (any) yield '\n';
  })();
  return Readable.from(gen, { objectMode: false });
}

/** How much of a long string one slice escapes. */
const STRING_PIECE = 1 << 16;

/** A long string as JSON text (quotes included), escaped a piece at a time: one string, or the
 * pieces of one in order (each read alone: a tree of them joined would be copied whole at the
 * first read). Pieces end after a newline where there is one; a surrogate pair split between
 * two is escaped half by half, which JSON reads back as the pair. */
export async function* jsonStringPieces(text: string | readonly string[]): AsyncGenerator<string> {
  const slice = { start: performance.now() };
  yield '"';
  for (const part of typeof text === 'string' ? [text] : text) {
    for (let at = 0; at < part.length;) {
      let end = Math.min(part.length, at + STRING_PIECE);
      if (end < part.length) {
        const nl = part.lastIndexOf('\n', end - 1);
        if (nl >= at) end = nl + 1;
        else if (part.charCodeAt(end - 1) >= 0xd800 && part.charCodeAt(end - 1) <= 0xdbff) end--;
      }
      yield JSON.stringify(part.slice(at, end)).slice(1, -1);
      at = end;
      await breathe(slice);
    }
  }
  yield '"';
}
