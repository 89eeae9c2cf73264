// `fvsadm`: ipvsadm 1.31's command line and output, run against a Fulcrum director's REST API.
// The ipvsadm language and its run against the API are src/ipvsadm's; this file wires the
// process to it (argv, stdin, name lookups, /etc/services) and holds the HTTP client. The director is FULCRUM_API (default http://127.0.0.1:9390); the bearer token comes
// from FULCRUM_TOKEN or the file named by FULCRUM_TOKEN_FILE.
import dns from 'node:dns';
import fs from 'node:fs';
import path from 'node:path';
import { systemServices } from '../ipvsadm/addr';
import { DirectorUnavailable, runFvsadm, type ApiClient, type ApiResponse, type FvsadmEnv } from '../ipvsadm/run';

export { DirectorUnavailable, runFvsadm, type FvsadmEnv };

export const DEFAULT_API = 'http://127.0.0.1:9390';

// ---- the HTTP client ------------------------------------------------------------------------------

/** The bearer token: FULCRUM_TOKEN, else the first line of FULCRUM_TOKEN_FILE. */
export function tokenFromEnv(e: NodeJS.ProcessEnv = process.env): string | undefined {
  if (e.FULCRUM_TOKEN) return e.FULCRUM_TOKEN;
  if (!e.FULCRUM_TOKEN_FILE) return undefined;
  try {
    return fs.readFileSync(e.FULCRUM_TOKEN_FILE, 'utf8').split('\n')[0].trim() || undefined;
  } catch (err) {
    throw new DirectorUnavailable(`cannot read the token file ${e.FULCRUM_TOKEN_FILE} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export class HttpApi implements ApiClient {
  constructor(readonly base: string, private readonly token?: string, private readonly timeoutMs = 30_000) {}

  async request(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', p: string, body?: unknown): Promise<ApiResponse> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.base.replace(/\/$/, '') + p, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why = err.name === 'TimeoutError' ? `no answer in ${this.timeoutMs / 1000} s` : err.cause?.code ?? err.cause?.message ?? err.message;
      throw new DirectorUnavailable(`cannot reach the Fulcrum director at ${this.base} (${why})`);
    }
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text) {
      try { parsed = JSON.parse(text); } catch { /* keep the text */ }
    }
    if (res.status === 401)
      throw new DirectorUnavailable(`the Fulcrum director at ${this.base} wants a valid token (set FULCRUM_TOKEN or FULCRUM_TOKEN_FILE)`);
    return { status: res.status, body: parsed };
  }
}

async function lookupHost(name: string): Promise<string | undefined> {
  try { return (await dns.promises.lookup(name, { family: 4 })).address; } catch { return undefined; }
}

/** gethostbyaddr's answer through the system resolver (hosts file, then DNS), as ipvsadm gets it. */
async function reverseHost(address: string): Promise<string | undefined> {
  try { return (await dns.promises.lookupService(address, 0)).hostname; } catch { return undefined; }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

export async function main(argv: string[]): Promise<number> {
  const program = path.basename(process.argv[1] ?? 'fvsadm').replace(/\.js$/, '');
  const base = process.env.FULCRUM_API || DEFAULT_API;
  let http: HttpApi | undefined;
  const env: FvsadmEnv = {
    program,
    api: {
      // Made on the first request, so -h, -v and usage errors need no token file.
      request: (m, p, b) => (http ??= new HttpApi(base, tokenFromEnv())).request(m, p, b),
    },
    readStdin: () => readAll(process.stdin),
    lookupHost,
    reverseHost,
    services: systemServices(),
    out: (s) => { if (s) process.stdout.write(s); },
    err: (s) => { if (s) process.stderr.write(s); },
  };
  return runFvsadm(argv, env);
}
