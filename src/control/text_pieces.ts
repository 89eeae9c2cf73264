// Large JSON text (a restore's journal record, a new state base, a listing of 10,000
// services) made into Buffers of about 64 KiB as it grows. Encoded as one string, or as a
// slice's worth of it, such text held the event loop for 8-20 ms on its own: the copy, and the
// fresh pages it faulted in. A piece ends between two added strings, never inside one.
import { breathe } from './slices';

/** Text gathered into pieces, each encoded once it holds PIECE_CHARS. */
export class TextPieces {
  private done: Buffer[] = [];
  private text: string[] = [];
  private size = 0;
  private any = false;

  /** Nothing added yet. */
  get empty(): boolean { return !this.any; }

  add(t: string): void {
    this.text.push(t);
    this.size += t.length;
    this.any = true;
    if (this.size >= PIECE_CHARS) this.encode();
  }

  /** The pieces made so far, handed over; with `all`, the text not yet a piece too. */
  take(all = true): Buffer[] {
    if (all) this.encode();
    const out = this.done;
    this.done = [];
    return out;
  }

  private encode(): void {
    if (this.text.length) this.done.push(Buffer.from(this.text.join('')));
    this.text = [];
    this.size = 0;
  }
}

/** Characters of text a piece holds before it is encoded. */
export const PIECE_CHARS = 1 << 16;

/** Where a list of items sits in its JSON: text before, between and after the items. */
export interface Framing { open: string; sep: string; close: string }

/** Items as JSON in pieces, made as they are read, a slice of the event loop at a time. */
export async function* jsonItemPieces<T>(items: Iterable<T>, toJson: (t: T) => unknown, f: Framing): AsyncGenerator<Buffer> {
  const slice = { start: performance.now() };
  const text = new TextPieces();
  text.add(f.open);
  let first = true;
  for (const item of items) {
    text.add((first ? '' : f.sep) + JSON.stringify(toJson(item)));
    first = false;
    yield* text.take(false);
    await breathe(slice);
  }
  text.add(f.close);
  yield* text.take();
}
