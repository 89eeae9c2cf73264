// One fvsadm invocation against the director's REST API, with ipvsadm's behaviour: each
// parsed command becomes the requests it needs (-A → POST /v1/services, -e → PUT
// …/servers/{addr:port}, …), the API's JSON becomes the kernel-like data format.ts prints, and
// the API's refusals become the kernel errors ipvsadm reports, with its texts and exit codes
// (404 on -d → "No such destination", 409 on -A → "Service already exists", …). Where the
// kernel would check something before the API does (the service's existence before the
// scheduler's name), the order is the kernel's, so the first error is the one ipvsadm would
// print. -R parses every line first (restore.ts) and sends the writes as one change.
import { parseArgs, type Endpoint, type IpvsadmCommand, type ListFormat, type ParseFailure, type ServiceRef, type ServicesDb, type HostLookup } from './args';
import {
  formatConnections, formatDaemons, formatOneService, formatTimeouts, listingOrder, saveParts, tableParts,
  type IpvsService, type Names,
} from './format';
import { ERRNO, ipvsStrerror, operationOf, type Operation } from './kernel_errors';
import {
  connectionFromApi, knownScheduler, serverBody, serverId, serviceBody, serviceFromApi, serviceId,
  type ApiConnection, type ApiService,
} from './model';
import { parseRestore } from './restore';
import { usageText, VERSION_LINE } from './usage';
import { DirectorUnavailable, NdjsonBody, TextBody, type ApiClient, type ApiResponse } from '../client/http';
import { breathe } from '../control/slices';

const servicePath = (s: ServiceRef) => `/v1/services/${encodeURIComponent(serviceId(s))}`;
const serverPath = (s: ServiceRef, e: Endpoint) => `${servicePath(s)}/servers/${encodeURIComponent(serverId(e))}`;

// ---- running a command ------------------------------------------------------------------------------

/** Text a command printed: one string, or (a large listing) its pieces in order, each a flat
 * string. Joined, a 7 MB listing is a tree of pieces that V8 copies whole, in one turn of the
 * director's event loop (20-25 ms), at its first read. */
export type Printed = string | readonly string[];

/** Printed text as one string (for what is small: a restore line's answer). */
export const printedText = (p: Printed): string => (typeof p === 'string' ? p : p.join(''));

/** What one command printed and how it ended; `fatal` ends a restore (ipvsadm exit()s there). */
export interface Outcome {
  stdout: Printed;
  stderr: string;
  exit: number;
  fatal: boolean;
}

const done = (stdout: Printed = ''): Outcome => ({ stdout, stderr: '', exit: 0, fatal: false });
/** A refused change: ipvsadm prints the kernel's error and carries on (exit 255). */
const refused = (op: Operation, errno: number, detail?: string): Outcome =>
  ({ stdout: '', stderr: ipvsStrerror(op, errno) + '\n' + (detail ? `fvsadm: ${detail}\n` : ''), exit: 255, fatal: false });
/** A failed listing: ipvsadm prints the error and exits 1 at once. */
const listFailed = (message: string): Outcome => ({ stdout: '', stderr: message + '\n', exit: 1, fatal: true });

/** The API refused a request in a way no kernel error names. */
function apiFailure(r: ApiResponse): string {
  const b = r.body as { message?: string; problems?: string[] } | undefined;
  const why = b && typeof b === 'object' ? (b.problems?.length ? b.problems.join('; ') : b.message) : typeof r.body === 'string' ? r.body : '';
  return why ? `the director answered ${r.status}: ${why}` : `the director answered ${r.status}`;
}

/** A write the API refused: 400 is what the kernel calls EINVAL (the director's reason follows),
 * 403 is EPERM, anything else is reported as the director's own answer. */
function writeRefused(op: Operation, r: ApiResponse): Outcome {
  if (r.status === 400) return refused(op, ERRNO.EINVAL, apiFailure(r));
  if (r.status === 403) return refused(op, ERRNO.EPERM);
  return { stdout: '', stderr: `fvsadm: ${apiFailure(r)}\n`, exit: 255, fatal: false };
}

/** What fvsadm needs besides the API: lookups for names without -n. */
export interface RunContext {
  api: ApiClient;
  services: ServicesDb;
  /** gethostbyaddr: an address's name, or undefined. */
  reverseHost(address: string): Promise<string | undefined>;
}

/** Resolves every address the listing will print, then answers synchronously; with -n there
 * is nothing to resolve (nor to collect: a large table's 110,000 addresses). */
async function namesFor(ctx: RunContext, format: ListFormat, addresses: () => Iterable<string>): Promise<Names> {
  if (format.numeric) return { host: () => undefined, service: () => undefined };
  const hosts = new Map<string, string | undefined>();
  await Promise.all([...new Set(addresses())].map(async (a) => { hosts.set(a, await ctx.reverseHost(a)); }));
  return { host: (a) => hosts.get(a), service: (p, proto) => ctx.services.nameOf(p, proto) };
}

function* serviceAddresses(ss: IpvsService[]): Generator<string> {
  for (const s of ss) {
    if (!s.fwmark) yield s.address;
    for (const d of s.dests) yield d.address;
  }
}

async function getServices(ctx: RunContext): Promise<IpvsService[] | ApiResponse> {
  // As NDJSON: read a service at a time as it arrives (a large site's table is tens of MB).
  const r = await ctx.api.request('GET', '/v1/services?format=ndjson');
  if (r.status !== 200 || !Array.isArray(r.body)) return r;
  const out: IpvsService[] = [];
  const slice = { start: performance.now() };
  for (const s of r.body as ApiService[]) {
    await breathe(slice);
    out.push(serviceFromApi(s));
  }
  return out;
}

/** A large listing's text made a slice at a time: fvsadm also runs inside the director
 * (POST /v1/ipvsadm), where 10,000 services formatted at once held its event loop for 0.5 s.
 * Parts are joined a few hundred at a time (one join of 10,000 took 70 ms) into pieces that
 * stay apart (see Printed). */
async function textPieces(parts: Iterable<string>): Promise<string[]> {
  const pieces: string[] = [];
  let batch: string[] = [];
  const slice = { start: performance.now() };
  for (const p of parts) {
    await breathe(slice);
    batch.push(p);
    if (batch.length === 256) {
      pieces.push(batch.join(''));
      batch = [];
    }
  }
  if (batch.length) pieces.push(batch.join(''));
  return pieces;
}

async function getService(ctx: RunContext, s: ServiceRef): Promise<ApiService | undefined | ApiResponse> {
  const r = await ctx.api.request('GET', servicePath(s));
  if (r.status === 404) return undefined;
  if (r.status !== 200) return r;
  return r.body as ApiService;
}
const isResponse = (x: unknown): x is ApiResponse => typeof x === 'object' && x !== null && 'status' in x && 'body' in x;

async function getAllConnections(ctx: RunContext): Promise<ApiConnection[] | ApiResponse> {
  const all: ApiConnection[] = [];
  for (let offset: number | null = 0; offset !== null;) {
    const r = await ctx.api.request('GET', `/v1/connections?limit=100000&offset=${offset}`);
    if (r.status !== 200) return r;
    const page = r.body as { connections: ApiConnection[]; next: number | null };
    all.push(...page.connections);
    offset = page.next;
  }
  return all;
}

/** Runs one parsed command (not -R, -h or -v, which runFvsadm handles) against the API. */
export async function runCommand(c: IpvsadmCommand, ctx: RunContext): Promise<Outcome> {
  const op = operationOf(c);
  switch (c.cmd) {
    case 'add-service': {
      if (!knownScheduler(c.scheduler) || c.pe !== undefined) {
        // The kernel finds the service first, then the scheduler and persistence engine
        // (Fulcrum has no persistence engines).
        const cur = await getService(ctx, c.service);
        if (isResponse(cur)) return writeRefused(op, cur);
        return refused(op, cur ? ERRNO.EEXIST : ERRNO.ENOENT);
      }
      const r = await ctx.api.request('POST', '/v1/services', serviceBody(c));
      if (r.status === 201 || r.status === 200) return done();
      if (r.status === 409) return refused(op, ERRNO.EEXIST);
      return writeRefused(op, r);
    }
    case 'edit-service': {
      const cur = await getService(ctx, c.service);
      if (isResponse(cur)) return writeRefused(op, cur);
      if (!cur) return refused(op, ERRNO.ESRCH);
      if (!knownScheduler(c.scheduler) || c.pe !== undefined) return refused(op, ERRNO.ENOENT);
      const body = serviceBody(c) as Record<string, unknown>;
      // The API keeps Fulcrum's own attributes (health checks, quorum, sorry server) on PUT.
      if (c.scheduler !== 'mh') delete body.mhTableSize;
      const r = await ctx.api.request('PUT', servicePath(c.service), body);
      if (r.status === 200) return done();
      if (r.status === 404) return refused(op, ERRNO.ESRCH);
      return writeRefused(op, r);
    }
    case 'delete-service': {
      const r = await ctx.api.request('DELETE', servicePath(c.service));
      if (r.status === 204 || r.status === 200) return done();
      if (r.status === 404) return refused(op, ERRNO.ESRCH);
      return writeRefused(op, r);
    }
    case 'add-server': case 'edit-server': {
      // An edit is one PUT (its 404 says which part is missing); only a bad threshold pair
      // asks first, since the kernel answers ESRCH for a missing service before ERANGE.
      if (c.lThreshold > c.uThreshold) {
        const got = await getService(ctx, c.service);
        if (isResponse(got)) return writeRefused(op, got);
        if (!got) return refused(op, ERRNO.ESRCH);
        return refused(op, ERRNO.ERANGE);
      }
      if (c.tunnel && c.tunnel.type !== 'ipip')
        return refused(op, ERRNO.EINVAL, `the director tunnels with IPIP only, not ${c.tunnel.type}`);
      const body = serverBody(c);
      if (c.cmd === 'add-server') {
        const r = await ctx.api.request('POST', `${servicePath(c.service)}/servers`, body);
        if (r.status === 201 || r.status === 200) return done();
        if (r.status === 404) return refused(op, ERRNO.ESRCH);
        if (r.status === 409) return refused(op, ERRNO.EEXIST);
        return writeRefused(op, r);
      }
      const r = await ctx.api.request('PUT', serverPath(c.service, c.server), body);
      if (r.status === 200) return done();
      // The answer names what is missing: the service (ESRCH, looked for first, as the kernel
      // does) or the real server in it (ENOENT).
      if (r.status === 404) return refused(op, missingOf(r) === 'server' ? ERRNO.ENOENT : ERRNO.ESRCH);
      return writeRefused(op, r);
    }
    case 'delete-server': {
      const r = await ctx.api.request('DELETE', serverPath(c.service, c.server));
      if (r.status === 204 || r.status === 200) return done();
      if (r.status !== 404) return writeRefused(op, r);
      // which of the two is missing: the kernel looks for the service first
      const svc = await getService(ctx, c.service);
      if (isResponse(svc)) return writeRefused(op, svc);
      return refused(op, svc ? ERRNO.ENOENT : ERRNO.ESRCH);
    }
    case 'flush': {
      // Only the services go (one change); match rules, timeouts and the tunnel source stay.
      const r = await ctx.api.request('DELETE', '/v1/services');
      return r.status === 200 || r.status === 204 ? done() : writeRefused(op, r);
    }
    case 'zero': {
      if (!c.service) {
        const r = await ctx.api.request('POST', '/v1/stats/zero');
        return r.status === 204 || r.status === 200 ? done() : writeRefused(op, r);
      }
      const svc = await getService(ctx, c.service);
      if (isResponse(svc)) return writeRefused(op, svc);
      if (!svc) return refused(op, ERRNO.ESRCH);
      const r = await ctx.api.request('POST', `/v1/stats/zero?service=${encodeURIComponent(serviceId(c.service))}`);
      if (r.status === 404) return refused(op, ERRNO.ESRCH);
      return r.status === 204 || r.status === 200 ? done() : writeRefused(op, r);
    }
    case 'set': {
      // 0 leaves a timeout as it is; the API takes all three.
      const cur = await ctx.api.request('GET', '/v1/timeouts');
      if (cur.status !== 200) return writeRefused(op, cur);
      const t = cur.body as { tcp: number; tcpfin: number; udp: number };
      const next = { tcp: c.timeouts.tcp || t.tcp, tcpfin: c.timeouts.tcpfin || t.tcpfin, udp: c.timeouts.udp || t.udp };
      if (next.tcp === t.tcp && next.tcpfin === t.tcpfin && next.udp === t.udp) return done();
      const r = await ctx.api.request('PUT', '/v1/timeouts', next);
      return r.status === 200 ? done() : writeRefused(op, r);
    }
    case 'start-daemon': {
      const d = c.daemon;
      // ipvsadm's default interface is eth0: a director without a port of that name says
      // what the kernel says of a missing interface.
      const r = await ctx.api.request('POST', '/v1/sync/daemons', {
        state: d.state, interface: d.mcastInterface || 'eth0', syncId: d.syncId,
        ...(d.maxlen !== undefined ? { maxlen: d.maxlen } : {}), ...(d.group !== undefined ? { group: d.group } : {}),
        ...(d.port !== undefined ? { port: d.port } : {}), ...(d.ttl !== undefined ? { ttl: d.ttl } : {}),
      });
      if (r.status === 201) return done();
      if (r.status === 409) return refused(op, ERRNO.EEXIST);
      const problems = (r.body as { problems?: string[] } | undefined)?.problems ?? [];
      if (r.status === 400 && problems.some((p) => /interface: no port named/.test(p))) return refused(op, ERRNO.ENODEV);
      return writeRefused(op, r);
    }
    case 'stop-daemon': {
      const r = await ctx.api.request('DELETE', `/v1/sync/daemons/${c.daemon.state}`);
      if (r.status === 204) return done();
      if (r.status === 404) return refused(op, ERRNO.ESRCH);
      return writeRefused(op, r);
    }
    case 'save': {
      const ss = await getServices(ctx);
      if (isResponse(ss)) return listFailed(`fvsadm: ${apiFailure(ss)}`);
      return done(await textPieces(saveParts(await listingOrder(ss, c.format), c.format, await namesFor(ctx, c.format, () => serviceAddresses(ss)))));
    }
    case 'list':
      switch (c.what) {
        case 'all': {
          const ss = await getServices(ctx);
          if (isResponse(ss)) return listFailed(`fvsadm: ${apiFailure(ss)}`);
          return done(await textPieces(tableParts(await listingOrder(ss, c.format), c.format, await namesFor(ctx, c.format, () => serviceAddresses(ss)))));
        }
        case 'service': {
          const svc = await getService(ctx, c.service!);
          if (isResponse(svc)) return listFailed(`fvsadm: ${apiFailure(svc)}`);
          if (!svc) return listFailed(ipvsStrerror('get-service', ERRNO.ESRCH));
          const s = serviceFromApi(svc);
          return done(formatOneService(s, c.format, await namesFor(ctx, c.format, () => serviceAddresses([s]))));
        }
        case 'connections': {
          const conns = await getAllConnections(ctx);
          if (isResponse(conns)) return listFailed(`fvsadm: ${apiFailure(conns)}`);
          const list = conns.map(connectionFromApi);
          const names = await namesFor(ctx, c.format, () => list.flatMap((x) => [x.source.address, x.virtual.address, x.destination.address]));
          return done(formatConnections(list, c.format, names));
        }
        case 'timeout': {
          const r = await ctx.api.request('GET', '/v1/timeouts');
          if (r.status !== 200) return listFailed(`fvsadm: ${apiFailure(r)}`);
          return done(formatTimeouts(r.body as { tcp: number; tcpfin: number; udp: number }));
        }
        case 'daemon': {
          const r = await ctx.api.request('GET', '/v1/sync');
          if (r.status !== 200) return listFailed(`fvsadm: ${apiFailure(r)}`);
          const ds = (r.body as { daemons: Array<{ state: 'master' | 'backup'; interface: string; syncId: number; maxlen: number; group: string; port: number; ttl: number }> }).daemons;
          return done(formatDaemons(ds.map((d) => ({ state: d.state, mcastInterface: d.interface, syncId: d.syncId, maxlen: d.maxlen, group: d.group, port: d.port, ttl: d.ttl }))));
        }
      }
      break;
    case 'help': case 'version': case 'restore':
      break;
  }
  throw new Error(`runCommand cannot run ${c.cmd}`);
}

// ---- -R as one change -------------------------------------------------------------------------

/** One restore line planned for POST /v1/batch: the write it makes and how its answer reads
 * as ipvsadm's, or the outcome it has without asking (refused before the kernel sees it). */
export type BatchLine =
  | { op: { method: string; path: string; body?: unknown }; outcome(r: ApiResponse): Outcome }
  | { local: Outcome };

const missingOf = (r: ApiResponse) => (r.body as { missing?: string } | undefined)?.missing;

/** Plans a restore as one batch, or undefined when a line needs the table as it stands
 * between lines (a listing, -Z, an unknown scheduler whose error depends on the service
 * existing): such restores run line by line. */
export function planBatch(lines: IpvsadmCommand[]): BatchLine[] | undefined {
  const plan: BatchLine[] = [];
  for (const c of lines) {
    const l = planLine(c);
    if (!l) return undefined;
    plan.push(l);
  }
  return plan;
}

/** One line of planBatch: its write or its answer, or undefined when it must run alone. */
export function planLine(c: IpvsadmCommand): BatchLine | undefined {
  const op = operationOf(c);
  switch (c.cmd) {
    case 'add-service':
    case 'edit-service': {
      if (!knownScheduler(c.scheduler) || c.pe !== undefined) return undefined;
      const body = serviceBody(c) as Record<string, unknown>;
      if (c.cmd === 'add-service') {
        return { op: { method: 'POST', path: '/v1/services', body }, outcome: (r) =>
          r.status === 201 ? done() : r.status === 409 ? refused(op, ERRNO.EEXIST) : writeRefused(op, r) };
      } else {
        if (c.scheduler !== 'mh') delete body.mhTableSize;
        return { op: { method: 'PUT', path: servicePath(c.service), body }, outcome: (r) =>
          r.status === 200 ? done() : r.status === 404 ? refused(op, ERRNO.ESRCH) : writeRefused(op, r) };
      }
    }
    case 'delete-service':
      return { op: { method: 'DELETE', path: servicePath(c.service) }, outcome: (r) =>
        r.status === 204 ? done() : r.status === 404 ? refused(op, ERRNO.ESRCH) : writeRefused(op, r) };
    case 'add-server':
    case 'edit-server': {
      if (c.lThreshold > c.uThreshold) return undefined;  // ESRCH or ERANGE: the table decides
      if (c.tunnel && c.tunnel.type !== 'ipip') {
        return { local: refused(op, ERRNO.EINVAL, `the director tunnels with IPIP only, not ${c.tunnel.type}`) };
      }
      const body = serverBody(c);
      const notFound = (r: ApiResponse) => refused(op, missingOf(r) === 'server' ? ERRNO.ENOENT : ERRNO.ESRCH);
      if (c.cmd === 'add-server')
        return { op: { method: 'POST', path: `${servicePath(c.service)}/servers`, body }, outcome: (r) =>
          r.status === 201 ? done() : r.status === 404 ? notFound(r) : r.status === 409 ? refused(op, ERRNO.EEXIST) : writeRefused(op, r) };
      else
        return { op: { method: 'PUT', path: serverPath(c.service, c.server), body }, outcome: (r) =>
          r.status === 200 ? done() : r.status === 404 ? notFound(r) : writeRefused(op, r) };
    }
    case 'delete-server':
      return { op: { method: 'DELETE', path: serverPath(c.service, c.server) }, outcome: (r) =>
        r.status === 204 ? done() : r.status === 404 ? refused(op, missingOf(r) === 'server' ? ERRNO.ENOENT : ERRNO.ESRCH) : writeRefused(op, r) };
    case 'flush':
      return { op: { method: 'DELETE', path: '/v1/services' }, outcome: (r) => (r.status === 204 ? done() : writeRefused(op, r)) };
    case 'set': {
      // 0 leaves a timeout as it is.
      const t = Object.fromEntries(Object.entries(c.timeouts).filter(([, v]) => v));
      if (!Object.keys(t).length) return { local: done() };
      return { op: { method: 'PATCH', path: '/v1/timeouts', body: t }, outcome: (r) => (r.status === 200 ? done() : writeRefused(op, r)) };
    }
    default:
      return undefined;
  }
}

/** Sends a planned restore as one change and reads each line's answer. */
export async function runBatch(plan: BatchLine[], ctx: RunContext): Promise<Outcome[]> {
  const ops = plan.flatMap((l) => ('op' in l ? [l.op] : []));
  let results: ApiResponse[] = [];
  if (ops.length) {
    const r = await ctx.api.request('POST', '/v1/batch', new NdjsonBody(ops));
    if (r.status !== 200) {
      const o = { stdout: '', stderr: `fvsadm: ${apiFailure(r)}\n`, exit: 255, fatal: true };
      return [o];
    }
    results = ((r.body as { results: Array<{ status: number } & Record<string, unknown>> }).results)
      .map((x) => ({ status: x.status, body: x }));
  }
  let i = 0;
  return plan.map((l) => ('op' in l ? l.outcome(results[i++]) : l.local));
}

// ---- an invocation ----------------------------------------------------------------------------------

export interface FvsadmEnv {
  /** argv[0] as ipvsadm prints it in its usage and "Try" lines. */
  program: string;
  api: ApiClient;
  /** All of standard input, for -R. */
  /** All of standard input: one string, or pieces of it in order (the director's own run
   * keeps a large -R input as the pieces it arrived in). */
  readStdin(): Promise<string | readonly string[]>;
  lookupHost: HostLookup;
  reverseHost(address: string): Promise<string | undefined>;
  services: ServicesDb;
  out(s: string): void;
  err(s: string): void;
}

function print(env: FvsadmEnv, p: Printed): void {
  if (typeof p === 'string') env.out(p);
  else for (const piece of p) env.out(piece);
}

/** -R's input sent to the director as it is (POST /v1/restore), its answers printed; the exit
 * status, or undefined when the director leaves the restore to fvsadm (input naming hosts or
 * ports, or reading the table between lines; a director without the route). */
async function restoreOnDirector(text: string | readonly string[], env: FvsadmEnv, api: ApiClient): Promise<number | undefined> {
  const r = await api.request('POST', `/v1/restore?program=${encodeURIComponent(env.program)}`, new TextBody(text));
  if (r.status === 404) return undefined;
  const b = r.body as { fallback?: string; exit?: number; stderr?: string; end?: string;
    outputs?: Array<{ stdout?: string; stderr?: string }> } | undefined;
  if (r.status === 400 && typeof b?.stderr === 'string' && typeof b.exit === 'number') { env.err(b.stderr); return b.exit; }
  if (r.status !== 200 || !b || typeof b !== 'object') { env.err(`fvsadm: ${apiFailure(r)}\n`); return 255; }
  if (b.fallback) return undefined;
  for (const o of b.outputs ?? []) {
    env.out(o.stdout ?? '');
    env.err(o.stderr ?? '');
  }
  if (b.end === 'help') { env.out(usageText(env.program)); return 0; }
  if (b.end === 'version') { env.out(VERSION_LINE + '\n'); return 0; }
  return b.exit ?? 0;
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
      print(env, r.stdout);
      env.err(r.stderr);
      return r.exit;
    }

    // -R: every line is an invocation of its own. All are parsed before any is applied, so a
    // bad line changes nothing (ipvsadm would have applied the lines before it), and the
    // writes go as one change; -h or -v on a line ends the input there, as ipvsadm exits at it.
    // The director does it all when it can (the same parse and plan, run there); else here.
    const stdin = await env.readStdin();
    const there = await restoreOnDirector(stdin, env, ctx.api);
    if (there !== undefined) return there;
    const input = await parseRestore(typeof stdin === 'string' ? stdin : stdin.join(''), penv);
    if (!input.ok) return failed(input.error);
    const lines = input.lines.map((l) => l.command);
    let status = 0;
    // Writes only (what ipvsadm -S produces): one change on the director, each line answered
    // as ipvsadm answers it. Anything that reads the table between lines goes line by line.
    const plan = planBatch(lines);
    const outcomes = plan ? await runBatch(plan, ctx) : undefined;
    for (const [i, line] of lines.entries()) {
      const r = outcomes ? outcomes[i] : await runCommand(line, ctx);
      if (!r) break;
      print(env, r.stdout);
      env.err(r.stderr);
      if (r.fatal) return r.exit;
      status = r.exit;
    }
    if (input.end?.command.cmd === 'help') { env.out(usageText(env.program)); return 0; }
    if (input.end?.command.cmd === 'version') { env.out(VERSION_LINE + '\n'); return 0; }
    return status;
  } catch (e) {
    if (e instanceof DirectorUnavailable) { env.err(`${env.program}: ${e.message}\n`); return 2; }
    throw e;
  }
}
