// Large request bodies read as they arrive: each chunk decoded (UTF-8, characters split across
// chunks kept whole) and handed on in its own turn of the event loop, the size limit counted
// as the bytes come (a declared Content-Length over it is refused before any is read). A body
// of tens of MB is never concatenated and decoded in one go, which held the loop for tens of
// ms. Used by the NDJSON batch and the ipvsadm-text routes.
import { StringDecoder } from 'node:string_decoder';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from './errors';

export interface BodyReader {
  /** A piece of the text, in order. Throwing refuses the body with that error. */
  piece(text: string): void;
  /** The body ended (after its last piece): the parsed body, or throw to refuse it. */
  end(): unknown;
}

export function readStreamed(headers: IncomingHttpHeaders, payload: NodeJS.ReadableStream, limit: number,
  reader: BodyReader, done: (err: Error | null, body?: unknown) => void): void {
  const tooLarge = () => new ApiError(413, `the body is larger than ${limit} bytes`);
  if (Number(headers['content-length']) > limit) return done(tooLarge());
  const decoder = new StringDecoder('utf8');
  let bytes = 0;
  let finished = false;
  const fail = (e: Error) => {
    if (finished) return;
    finished = true;
    payload.removeAllListeners('data');
    payload.resume();  // the rest is read and dropped; the answer goes out now
    done(e);
  };
  payload.on('data', (chunk: Buffer) => {
    if (finished) return;
    bytes += chunk.length;
    if (bytes > limit) return fail(tooLarge());
    try {
      reader.piece(decoder.write(chunk));
    } catch (e) {
      return fail(e as Error);
    }
    // The next chunk in a turn of its own: a socket read drains what the kernel holds (MBs
    // of a large body) through 'data' within one turn otherwise.
    payload.pause();
    setImmediate(() => { if (!finished) payload.resume(); });
  });
  payload.on('end', () => {
    if (finished) return;
    try {
      reader.piece(decoder.end());
      const body = reader.end();
      finished = true;
      done(null, body);
    } catch (e) {
      fail(e as Error);
    }
  });
  payload.on('error', (e: Error) => fail(e));
}
