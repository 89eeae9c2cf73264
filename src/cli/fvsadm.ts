// `fvsadm`: ipvsadm 1.31's command line and output, run against a Fulcrum director's REST API.
// This file owns the invocation: parse (ipvsadm_args), run each command through the API
// (fvsadm_api), -R's line-by-line restore, -h/-v, and the HTTP client with its address and
// token. The director is FULCRUM_API (default http://127.0.0.1:9390); the bearer token comes
// from FULCRUM_TOKEN or the file named by FULCRUM_TOKEN_FILE.
import dns from 'node:dns';
import fs from 'node:fs';
import path from 'node:path';
import {
  parseArgs, splitRestoreInput, systemServices, usageText, VERSION_LINE,
  type HostLookup, type IpvsadmCommand, type ParseFailure, type ServicesDb,
} from './ipvsadm_args';
import { planBatch, runBatch, runCommand, type ApiClient, type ApiResponse, type RunContext } from './fvsadm_api';

export const VERSION = VERSION_LINE;
export const USAGE = usageText('fvsadm');
export const DEFAULT_API = 'http://127.0.0.1:9390';

/** The director could not be asked at all: ipvsadm's "Can't initialize ipvs" case, exit 2. */
export class DirectorUnavailable extends Error {}

export interface FvsadmEnv {
  /** argv[0] as ipvsadm prints it in its usage and "Try" lines. */
  program: string;
  api: ApiClient;
  /** All of standard input, for -R. */
  readStdin(): Promise<string>;
  lookupHost: HostLookup;
  reverseHost(address: string): Promise<string | undefined>;
  services: ServicesDb;
  out(s: string): void;
  err(s: string): void;
}

/** Runs one fvsadm invocation; resolves to its exit status. */
export async function runFvsadm(argv: string[], env: FvsadmEnv): Promise<number> {
  const penv = { program: env.program, lookupHost: env.lookupHost, services: env.services };
  const ctx: RunContext = { api: env.api, services: env.services, reverseHost: env.reverseHost };
  const failed = (f: ParseFailure) => { env.err(f.stderr); return f.exit; };
  try {
    const parsed = await parseArgs(argv, penv);
    if (!parsed.ok) return failed(parsed.error);
    const c = parsed.command;
    if (c.cmd === 'help') { env.out(usageText(env.program)); return 0; }
    if (c.cmd === 'version') { env.out(VERSION_LINE + '\n'); return 0; }
    if (c.cmd !== 'restore') {
      const r = await runCommand(c, ctx);
      env.out(r.stdout);
      env.err(r.stderr);
      return r.exit;
    }

    // -R: every line is an invocation of its own. All are parsed before any is sent, so a
    // bad line changes nothing (ipvsadm would have applied the lines before it), and the
    // writes go as one change; -h or -v on a line ends the input there, as ipvsadm exits at it.
    const lines: IpvsadmCommand[] = [];
    let last: IpvsadmCommand | undefined;
    for (const words of splitRestoreInput(await env.readStdin())) {
      const p = await parseArgs(words, { ...penv, readingStdin: true });
      if (!p.ok) return failed(p.error);
      if (p.command.cmd === 'help' || p.command.cmd === 'version') { last = p.command; break; }
      lines.push(p.command);
    }
    let status = 0;
    // Writes only (what ipvsadm -S produces): one change on the director, each line answered
    // as ipvsadm answers it. Anything that reads the table between lines goes line by line.
    const plan = planBatch(lines);
    const outcomes = plan ? await runBatch(plan, ctx) : undefined;
    for (const [i, line] of lines.entries()) {
      const r = outcomes ? outcomes[i] : await runCommand(line, ctx);
      if (!r) break;
      env.out(r.stdout);
      env.err(r.stderr);
      if (r.fatal) return r.exit;
      status = r.exit;
    }
    if (last?.cmd === 'help') { env.out(usageText(env.program)); return 0; }
    if (last?.cmd === 'version') { env.out(VERSION_LINE + '\n'); return 0; }
    return status;
  } catch (e) {
    if (e instanceof DirectorUnavailable) { env.err(`${env.program}: ${e.message}\n`); return 2; }
    throw e;
  }
}

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
