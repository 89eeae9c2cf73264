// The director's REST API as its command-line clients reach it: `fvsadm` and the `fulcrum`
// views (health, connections, dataplane). One place knows where the director is
// (FULCRUM_API, default http://127.0.0.1:9390), where the bearer token comes from
// (FULCRUM_TOKEN, else the first line of FULCRUM_TOKEN_FILE), and how an unreachable
// director or a refused token reads: one line naming the address (the commands exit 2).
// It is node:http rather than fetch: fvsadm starts for every command, and loading fetch's
// implementation costs more than the request.
import type { ClientRequest, IncomingMessage } from 'node:http';
import { StringDecoder } from 'node:string_decoder';

export const DEFAULT_API = 'http://127.0.0.1:9390';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ApiResponse { status: number; body: unknown }

/** The director's API as the clients use it; HttpApi is the real one, tests have fakes. */
export interface ApiClient {
  request(method: Method, path: string, body?: unknown): Promise<ApiResponse>;
}

/** A body sent as one JSON document per line (application/x-ndjson): the director reads a
 * large batch (a 10,000-service restore) a line at a time instead of in one parse. */
export class NdjsonBody {
  constructor(readonly items: unknown[]) {}
}

/** A body sent as it is, as text/plain (fvsadm -R sends its input so): one string, or its
 * pieces in order. */
export class TextBody {
  constructor(readonly text: string | readonly string[]) {}
}

/** The director could not be asked at all (ipvsadm's "Can't initialize ipvs" case, exit 2). */
export class DirectorUnavailable extends Error {}

/** The bearer token: FULCRUM_TOKEN, else the first line of FULCRUM_TOKEN_FILE. */
export function tokenFromEnv(e: NodeJS.ProcessEnv = process.env): string | undefined {
  if (e.FULCRUM_TOKEN) return e.FULCRUM_TOKEN;
  if (!e.FULCRUM_TOKEN_FILE) return undefined;
  const fs = require('node:fs') as typeof import('node:fs');
  try {
    return fs.readFileSync(e.FULCRUM_TOKEN_FILE, 'utf8').split('\n')[0].trim() || undefined;
  } catch (err) {
    throw new DirectorUnavailable(`cannot read the token file ${e.FULCRUM_TOKEN_FILE} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export class HttpApi implements ApiClient {
  constructor(readonly base: string, private readonly token?: string, private readonly timeoutMs = 30_000) {}

  async request(method: Method, p: string, body?: unknown): Promise<ApiResponse> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const nd = body instanceof NdjsonBody;
    const text = body instanceof TextBody;
    const payload: string | readonly string[] | undefined = body === undefined ? undefined : nd ? body.items.map((x) => JSON.stringify(x)).join('\n') + '\n'
      : text ? body.text : JSON.stringify(body);
    if (payload !== undefined) {
      headers['content-type'] = nd ? 'application/x-ndjson' : text ? 'text/plain; charset=utf-8' : 'application/json';
      // Pieces go chunked: their length would be a scan of all of them in one turn.
      if (typeof payload === 'string') headers['content-length'] = String(Buffer.byteLength(payload));
    }
    let url: URL;
    try {
      url = new URL(this.base.replace(/\/$/, '') + p);
    } catch {
      throw new DirectorUnavailable(`FULCRUM_API is not a URL: ${this.base}`);
    }
    const transport = (url.protocol === 'https:' ? require('node:https') : require('node:http')) as typeof import('node:http');
    const res = await new Promise<{ msg: IncomingMessage; text: string; items?: unknown[] }>((resolve, reject) => {
      const req = transport.request(url, { method, headers, timeout: this.timeoutMs }, (msg) => {
        if ((msg.headers['content-type'] ?? '').startsWith('application/x-ndjson') && msg.statusCode === 200) {
          const lines = new NdjsonLines();
          const bad = (e: unknown) => { msg.destroy(); reject(new Error(`an answer line is not JSON (${(e as Error).message})`)); };
          msg.on('data', (c: Buffer) => { try { lines.push(c); } catch (e) { bad(e); } });
          msg.on('end', () => { try { resolve({ msg, text: '', items: lines.end() }); } catch (e) { bad(e); } });
          msg.on('error', reject);
          return;
        }
        const chunks: Buffer[] = [];
        msg.on('data', (c: Buffer) => chunks.push(c));
        msg.on('end', () => resolve({ msg, text: Buffer.concat(chunks).toString('utf8') }));
        msg.on('error', reject);
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', reject);
      if (payload === undefined || (typeof payload === 'string' && payload.length <= PIECE)) req.end(payload);
      else writeInPieces(req, typeof payload === 'string' ? [payload] : payload);
    }).catch((e: NodeJS.ErrnoException) => {
      const why = e.code === 'TIMEOUT' ? `no answer in ${this.timeoutMs / 1000} s` : e.code ?? e.message;
      throw new DirectorUnavailable(`cannot reach the Fulcrum director at ${this.base} (${why})`);
    });
    if (res.msg.statusCode === 401)
      throw new DirectorUnavailable(`the Fulcrum director at ${this.base} wants a valid token (set FULCRUM_TOKEN or FULCRUM_TOKEN_FILE)`);
    if (res.items) return { status: 200, body: res.items };
    let parsed: unknown = res.text;
    if ((res.msg.headers['content-type'] ?? '').includes('json') && res.text) {
      try { parsed = JSON.parse(res.text); } catch { /* keep the text */ }
    }
    return { status: res.msg.statusCode ?? 0, body: parsed };
  }
}

/** NDJSON parsed as it arrives, a line at a time: a large table's tens of MB parsed in one
 * JSON.parse held the event loop of the director (whose own fvsadm runs this client) for
 * hundreds of ms. A line that is not JSON is an error. */
class NdjsonLines {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  private readonly items: unknown[] = [];
  push(c: Buffer): void {
    const text = this.rest + this.decoder.write(c);
    let from = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
      if (nl > from) this.items.push(JSON.parse(text.slice(from, nl)));
      from = nl + 1;
    }
    this.rest = text.slice(from);
  }
  end(): unknown[] {
    const last = this.rest + this.decoder.end();
    if (last.trim()) this.items.push(JSON.parse(last));
    return this.items;
  }
}

/** A body longer than this is written a piece at a time. */
const PIECE = 1 << 16;

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

/** A large body written a piece at a time, each once the one before is flushed: written at
 * once, a restore's 5 MB (encoded and handed to the socket in one turn) held the event loop
 * of the director, whose own fvsadm runs this client, for 50 ms. */
function writeInPieces(req: ClientRequest, pieces: readonly string[]): void {
  let k = 0;
  let at = 0;
  let carry = '';  // a high surrogate whose pair starts the next piece
  const next = () => {
    while (k < pieces.length && at >= pieces[k].length) { k++; at = 0; }
    if (k >= pieces.length) { req.end(carry || undefined); return; }
    const text = pieces[k];
    const end = Math.min(text.length, at + PIECE);
    let piece = carry + text.slice(at, end);
    at = end;
    carry = '';
    if (piece.length && isHighSurrogate(piece.charCodeAt(piece.length - 1))) {
      carry = piece.slice(-1);
      piece = piece.slice(0, -1);
    }
    if (!piece) { next(); return; }
    req.write(piece, (e) => { if (!e) next(); });
  };
  next();
}

/** The director named by the environment. The token is read on the first request, so
 * commands that never ask the director (-h, -v, usage errors) need no token file. */
export function directorFromEnv(e: NodeJS.ProcessEnv = process.env): ApiClient & { base: string } {
  const base = e.FULCRUM_API || DEFAULT_API;
  let http: HttpApi | undefined;
  return { base, request: async (m, p, b) => (http ??= new HttpApi(base, tokenFromEnv(e))).request(m, p, b) };
}
