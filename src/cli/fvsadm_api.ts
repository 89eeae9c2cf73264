// Between ipvsadm's commands and the director's REST API: each parsed command becomes the
// requests it needs (-A → POST /v1/services, -e → PUT …/servers/{addr:port}, …), the API's JSON
// becomes the kernel-like data ipvsadm_format prints, and the API's refusals become the kernel
// errors ipvsadm reports, with its texts and exit codes (404 on -d → "No such destination",
// 409 on -A → "Service already exists", …). Where the kernel would check something before
// the API does (the service's existence before the scheduler's name), the order is the
// kernel's, so the first error is the one ipvsadm would print.
import { SCHEDULERS, type HealthCheckConfig, type RealServerConfig, type ServiceConfig } from '../control/config_schema';
import type { Endpoint, IpvsadmCommand, ListFormat, Method, ServiceRef, ServicesDb } from './ipvsadm_args';
import { SCHED_FLAG_1, SCHED_FLAG_2, SCHED_FLAG_3 } from './ipvsadm_args';
import {
  formatConnections, formatDaemons, formatOneService, formatSave, formatTable, formatTimeouts, schedFlagNames,
  type Counters, type IpvsConnection, type IpvsDest, type IpvsService, type Names, type RateCounters,
} from './ipvsadm_format';

// ---- the API's JSON (the parts fvsadm reads) ------------------------------------------------------

export interface ApiRealServer {
  id?: string;
  address: string;
  port?: number;
  method?: 'nat' | 'dr' | 'tun' | 'fullnat';
  weight?: number;
  upperThreshold?: number;
  lowerThreshold?: number;
  healthChecks?: HealthCheckConfig[];
  effectiveWeight?: number;
  inDataplane?: boolean;
  activeConns?: number;
  inactConns?: number;
  persistConns?: number;
  stats?: Partial<Counters>;
  rates?: Partial<RateCounters>;
}

export interface ApiService extends Omit<ServiceConfig, 'realServers'> {
  id?: string;
  stats?: Partial<Counters>;
  rates?: Partial<RateCounters>;
  realServers?: ApiRealServer[];
}

export interface ApiConnection {
  protocol: string;
  expiresSeconds: number;
  state: string;
  template?: boolean;
  source: string;
  virtual: string;
  destination: string;
  local?: string;
  peName?: string;
  peData?: string;
}

export interface ApiResponse { status: number; body: unknown }

/** The director's API as fvsadm uses it; fvsadm.ts has the HTTP one, tests a fake. */
export interface ApiClient {
  request(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<ApiResponse>;
}

// ---- API JSON → what ipvsadm prints -----------------------------------------------------------------

const METHOD_FROM_API: Record<string, IpvsDest['method']> = { nat: 'masq', dr: 'route', tun: 'tunnel', fullnat: 'fullnat' };
const METHOD_TO_API: Record<Method, NonNullable<RealServerConfig['method']>> = { masq: 'nat', route: 'dr', tunnel: 'tun', fullnat: 'fullnat' };

const counters = (c: Partial<Counters> | undefined): Counters =>
  ({ conns: c?.conns ?? 0, inpkts: c?.inpkts ?? 0, outpkts: c?.outpkts ?? 0, inbytes: c?.inbytes ?? 0, outbytes: c?.outbytes ?? 0 });
const rates = (r: Partial<RateCounters> | undefined): RateCounters =>
  ({ cps: r?.cps ?? 0, inpps: r?.inpps ?? 0, outpps: r?.outpps ?? 0, inbps: r?.inbps ?? 0, outbps: r?.outbps ?? 0 });

/** schedFlags names → the kernel's bits (sh-/mh- names are aliases of bits 1 and 2). */
export function schedFlagBits(names: readonly string[] | undefined): number {
  let bits = 0;
  for (const n of names ?? []) {
    if (n === 'flag-1' || n.endsWith('-fallback')) bits |= SCHED_FLAG_1;
    else if (n === 'flag-2' || n.endsWith('-port')) bits |= SCHED_FLAG_2;
    else if (n === 'flag-3') bits |= SCHED_FLAG_3;
  }
  return bits;
}

/** The kernel's flag bits → the config's names for this scheduler. */
export function schedFlagsForApi(scheduler: string, bits: number): NonNullable<ServiceConfig['schedFlags']> {
  const names = schedFlagNames(scheduler, bits);
  // sh/mh print no name for bit 3, but it is still set: keep it as flag-3
  if ((scheduler === 'sh' || scheduler === 'mh') && bits & SCHED_FLAG_3) names.push('flag-3');
  return names as NonNullable<ServiceConfig['schedFlags']>;
}

/** One service of GET /v1/services as the kernel would hold it: only the real servers the
 * dataplane has, at the weight it uses (health checks may have set it), newest first. */
export function serviceFromApi(s: ApiService): IpvsService {
  const fwmark = s.fwmark ?? 0;
  const scheduler = s.scheduler ?? 'wlc';
  return {
    fwmark,
    protocol: s.protocol ?? 'tcp',
    address: fwmark ? '0.0.0.0' : s.address ?? '0.0.0.0',
    port: fwmark ? 0 : s.port ?? 0,
    scheduler,
    schedFlags: schedFlagBits(s.schedFlags),
    persistent: s.persistence !== undefined,
    timeout: s.persistence ? s.persistence.timeout ?? 360 : 0,
    netmask: s.persistence?.netmask ?? '255.255.255.255',
    onePacket: s.onePacket ?? false,
    stats: counters(s.stats),
    rates: rates(s.rates),
    dests: (s.realServers ?? []).filter((r) => r.inDataplane !== false).map((r): IpvsDest => ({
      address: r.address,
      port: r.port ?? s.port ?? 0,
      method: METHOD_FROM_API[r.method ?? 'dr'],
      weight: r.effectiveWeight ?? r.weight ?? 1,
      uThreshold: r.upperThreshold ?? 0,
      lThreshold: r.lowerThreshold ?? 0,
      activeConns: r.activeConns ?? 0,
      inactConns: r.inactConns ?? 0,
      persistConns: r.persistConns ?? 0,
      stats: counters(r.stats),
      rates: rates(r.rates),
    })).reverse(),
  };
}

function splitAddrPort(s: string): { address: string; port: number } {
  const i = s.lastIndexOf(':');
  return { address: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

export function connectionFromApi(c: ApiConnection): IpvsConnection {
  return {
    protocol: c.protocol, expires: c.expiresSeconds, state: c.state,
    source: splitAddrPort(c.source), virtual: splitAddrPort(c.virtual), destination: splitAddrPort(c.destination),
    ...(c.peName !== undefined ? { peName: c.peName, peData: c.peData ?? '' } : {}),
  };
}

// ---- what ipvsadm sends → the API's names and bodies --------------------------------------------------

/** How the API names a service: tcp:VIP:port, udp:…, sctp:… or fwmark:N. */
export function serviceId(s: ServiceRef): string {
  return s.fwmark ? `fwmark:${s.fwmark}` : `${s.protocol}:${s.address}:${s.port}`;
}
const serverId = (e: Endpoint) => `${e.address}:${e.port}`;
const servicePath = (s: ServiceRef) => `/v1/services/${encodeURIComponent(serviceId(s))}`;
const serverPath = (s: ServiceRef, e: Endpoint) => `${servicePath(s)}/servers/${encodeURIComponent(serverId(e))}`;

/** What -A/-E set: every kernel attribute of the service (the rest of the config is not ipvsadm's). */
export function serviceBody(c: Extract<IpvsadmCommand, { cmd: 'add-service' | 'edit-service' }>): ServiceConfig {
  const s = c.service;
  const body: ServiceConfig = s.fwmark ? { fwmark: s.fwmark } : { protocol: s.protocol, address: s.address, port: s.port };
  body.scheduler = c.scheduler as ServiceConfig['scheduler'];
  if (c.schedFlags) body.schedFlags = schedFlagsForApi(c.scheduler, c.schedFlags);
  if (c.persistence) {
    body.persistence = { timeout: c.persistence.timeout };
    if (c.persistence.netmask !== '255.255.255.255') body.persistence.netmask = c.persistence.netmask;
  }
  if (c.onePacket) body.onePacket = true;
  return body;
}

/** What -a/-e set: every kernel attribute of the real server (thresholds 0 mean none). */
export function serverBody(c: Extract<IpvsadmCommand, { cmd: 'add-server' | 'edit-server' }>): RealServerConfig {
  const body: RealServerConfig = { address: c.server.address, port: c.server.port, method: METHOD_TO_API[c.method], weight: c.weight };
  if (c.uThreshold) body.upperThreshold = c.uThreshold;
  if (c.lThreshold) body.lowerThreshold = c.lThreshold;
  return body;
}

// ---- kernel errors, as ipvsadm words them -------------------------------------------------------------

export const ERRNO = { EPERM: 1, ENOENT: 2, ESRCH: 3, EIO: 5, ENOMEM: 12, EFAULT: 14, EEXIST: 17, EINVAL: 22, ERANGE: 34, EMSGSIZE: 90, ENOPROTOOPT: 92, EOPNOTSUPP: 95, EAFNOSUPPORT: 97 } as const;

export type Operation = 'add-service' | 'edit-service' | 'delete-service' | 'zero' | 'add-server' | 'edit-server'
  | 'delete-server' | 'start-daemon' | 'stop-daemon' | 'get-service' | 'flush' | 'set' | 'list';

// libipvs's ipvs_strerror: messages by operation and errno, then by errno alone, else strerror.
const BY_OPERATION: Array<[Operation, number, string]> = [
  ['add-service', ERRNO.EEXIST, 'Service already exists'],
  ['add-service', ERRNO.ENOENT, 'Scheduler or persistence engine not found'],
  ['edit-service', ERRNO.ESRCH, 'No such service'],
  ['edit-service', ERRNO.ENOENT, 'Scheduler or persistence engine not found'],
  ['delete-service', ERRNO.ESRCH, 'No such service'],
  ['zero', ERRNO.ESRCH, 'No such service'],
  ['add-server', ERRNO.ESRCH, 'Service not defined'],
  ['add-server', ERRNO.EEXIST, 'Destination already exists'],
  ['edit-server', ERRNO.ESRCH, 'Service not defined'],
  ['edit-server', ERRNO.ENOENT, 'No such destination'],
  ['delete-server', ERRNO.ESRCH, 'Service not defined'],
  ['delete-server', ERRNO.ENOENT, 'No such destination'],
  ['start-daemon', ERRNO.EEXIST, 'Daemon has already run'],
  ['stop-daemon', ERRNO.ESRCH, 'No daemon is running'],
  ['get-service', ERRNO.ESRCH, 'No such service'],
];
const BY_ERRNO: Record<number, string> = {
  [ERRNO.EPERM]: 'Permission denied (you must be root)',
  [ERRNO.EINVAL]: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  [ERRNO.ENOPROTOOPT]: 'Protocol not available',
  [ERRNO.ENOMEM]: 'Memory allocation problem',
  [ERRNO.EOPNOTSUPP]: 'Operation not supported with IPv6',
  [ERRNO.EAFNOSUPPORT]: 'Operation not supported with specified address family',
  [ERRNO.EMSGSIZE]: 'Module is wrong version',
};
const STRERROR: Record<number, string> = {
  [ERRNO.ENOENT]: 'No such file or directory', [ERRNO.ESRCH]: 'No such process', [ERRNO.EIO]: 'Input/output error',
  [ERRNO.EFAULT]: 'Bad address', [ERRNO.EEXIST]: 'File exists', [ERRNO.ERANGE]: 'Numerical result out of range',
};

export function ipvsStrerror(op: Operation, errno: number): string {
  return BY_OPERATION.find(([o, e]) => o === op && e === errno)?.[2] ?? BY_ERRNO[errno] ?? STRERROR[errno] ?? `Unknown error ${errno}`;
}

/** The operation ipvsadm's message table would name for a command. */
export function operationOf(c: IpvsadmCommand): Operation {
  switch (c.cmd) {
    case 'add-service': case 'edit-service': case 'delete-service': case 'zero': case 'add-server':
    case 'edit-server': case 'delete-server': case 'start-daemon': case 'stop-daemon': case 'flush': case 'set':
      return c.cmd;
    default:
      return 'list';
  }
}

// ---- running a command ------------------------------------------------------------------------------

/** What one command printed and how it ended; `fatal` ends a restore (ipvsadm exit()s there). */
export interface Outcome {
  stdout: string;
  stderr: string;
  exit: number;
  fatal: boolean;
}

const done = (stdout = ''): Outcome => ({ stdout, stderr: '', exit: 0, fatal: false });
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

/** Resolves every address the listing will print, then answers synchronously. */
async function namesFor(ctx: RunContext, format: ListFormat, addresses: string[]): Promise<Names> {
  if (format.numeric) return { host: () => undefined, service: () => undefined };
  const hosts = new Map<string, string | undefined>();
  await Promise.all([...new Set(addresses)].map(async (a) => { hosts.set(a, await ctx.reverseHost(a)); }));
  return { host: (a) => hosts.get(a), service: (p, proto) => ctx.services.nameOf(p, proto) };
}

const serviceAddresses = (ss: IpvsService[]) => ss.flatMap((s) => [...(s.fwmark ? [] : [s.address]), ...s.dests.map((d) => d.address)]);

async function getServices(ctx: RunContext): Promise<IpvsService[] | ApiResponse> {
  const r = await ctx.api.request('GET', '/v1/services');
  if (r.status !== 200 || !Array.isArray(r.body)) return r;
  return (r.body as ApiService[]).map(serviceFromApi);
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

const knownScheduler = (s: string) => (SCHEDULERS as readonly string[]).includes(s);

/** Runs one parsed command (not -R, -h or -v, which fvsadm.ts handles) against the API. */
export async function runCommand(c: IpvsadmCommand, ctx: RunContext): Promise<Outcome> {
  const op = operationOf(c);
  switch (c.cmd) {
    case 'add-service': {
      if (c.service.af === 6) return refused(op, ERRNO.EAFNOSUPPORT);
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
      if (c.service.af === 6) return refused(op, ERRNO.EAFNOSUPPORT);
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
      if (c.service.af === 6) return refused(op, ERRNO.EAFNOSUPPORT);
      const r = await ctx.api.request('DELETE', servicePath(c.service));
      if (r.status === 204 || r.status === 200) return done();
      if (r.status === 404) return refused(op, ERRNO.ESRCH);
      return writeRefused(op, r);
    }
    case 'add-server': case 'edit-server': {
      if (c.service.af === 6 || c.server.af === 6) return refused(op, ERRNO.EAFNOSUPPORT);
      let cur: ApiService | undefined;
      if (c.cmd === 'edit-server' || c.lThreshold > c.uThreshold) {
        const got = await getService(ctx, c.service);
        if (isResponse(got)) return writeRefused(op, got);
        if (!got) return refused(op, ERRNO.ESRCH);
        cur = got;
      }
      if (c.lThreshold > c.uThreshold) return refused(op, ERRNO.ERANGE);
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
      const old = (cur!.realServers ?? []).find((x) => x.address === c.server.address && (x.port ?? cur!.port ?? 0) === c.server.port);
      if (!old) return refused(op, ERRNO.ENOENT);
      const r = await ctx.api.request('PUT', serverPath(c.service, c.server), body);
      if (r.status === 200) return done();
      if (r.status === 404) return refused(op, ERRNO.ENOENT);
      return writeRefused(op, r);
    }
    case 'delete-server': {
      if (c.service.af === 6 || c.server.af === 6) return refused(op, ERRNO.EAFNOSUPPORT);
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
      if (c.service.af === 6) return refused(op, ERRNO.EAFNOSUPPORT);
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
    case 'start-daemon':
      return refused(op, ERRNO.EINVAL, 'the director has no connection sync daemon');
    case 'stop-daemon':
      return refused(op, ERRNO.ESRCH);
    case 'save': {
      const ss = await getServices(ctx);
      if (isResponse(ss)) return listFailed(`fvsadm: ${apiFailure(ss)}`);
      return done(formatSave(ss, c.format, await namesFor(ctx, c.format, serviceAddresses(ss))));
    }
    case 'list':
      switch (c.what) {
        case 'all': {
          const ss = await getServices(ctx);
          if (isResponse(ss)) return listFailed(`fvsadm: ${apiFailure(ss)}`);
          return done(formatTable(ss, c.format, await namesFor(ctx, c.format, serviceAddresses(ss))));
        }
        case 'service': {
          if (c.service!.af === 6) return listFailed(ipvsStrerror('get-service', ERRNO.EAFNOSUPPORT));
          const svc = await getService(ctx, c.service!);
          if (isResponse(svc)) return listFailed(`fvsadm: ${apiFailure(svc)}`);
          if (!svc) return listFailed(ipvsStrerror('get-service', ERRNO.ESRCH));
          const s = serviceFromApi(svc);
          return done(formatOneService(s, c.format, await namesFor(ctx, c.format, serviceAddresses([s]))));
        }
        case 'connections': {
          const conns = await getAllConnections(ctx);
          if (isResponse(conns)) return listFailed(`fvsadm: ${apiFailure(conns)}`);
          const list = conns.map(connectionFromApi);
          const names = await namesFor(ctx, c.format, list.flatMap((x) => [x.source.address, x.virtual.address, x.destination.address]));
          return done(formatConnections(list, c.format, names));
        }
        case 'timeout': {
          const r = await ctx.api.request('GET', '/v1/timeouts');
          if (r.status !== 200) return listFailed(`fvsadm: ${apiFailure(r)}`);
          return done(formatTimeouts(r.body as { tcp: number; tcpfin: number; udp: number }));
        }
        case 'daemon':
          return done(formatDaemons([]));  // the director runs no sync daemon
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
    const op = operationOf(c);
    switch (c.cmd) {
      case 'add-service':
      case 'edit-service': {
        if (c.service.af === 6) { plan.push({ local: refused(op, ERRNO.EAFNOSUPPORT) }); break; }
        if (!knownScheduler(c.scheduler) || c.pe !== undefined) return undefined;
        const body = serviceBody(c) as Record<string, unknown>;
        if (c.cmd === 'add-service') {
          plan.push({ op: { method: 'POST', path: '/v1/services', body }, outcome: (r) =>
            r.status === 201 ? done() : r.status === 409 ? refused(op, ERRNO.EEXIST) : writeRefused(op, r) });
        } else {
          if (c.scheduler !== 'mh') delete body.mhTableSize;
          plan.push({ op: { method: 'PUT', path: servicePath(c.service), body }, outcome: (r) =>
            r.status === 200 ? done() : r.status === 404 ? refused(op, ERRNO.ESRCH) : writeRefused(op, r) });
        }
        break;
      }
      case 'delete-service':
        if (c.service.af === 6) { plan.push({ local: refused(op, ERRNO.EAFNOSUPPORT) }); break; }
        plan.push({ op: { method: 'DELETE', path: servicePath(c.service) }, outcome: (r) =>
          r.status === 204 ? done() : r.status === 404 ? refused(op, ERRNO.ESRCH) : writeRefused(op, r) });
        break;
      case 'add-server':
      case 'edit-server': {
        if (c.service.af === 6 || c.server.af === 6) { plan.push({ local: refused(op, ERRNO.EAFNOSUPPORT) }); break; }
        if (c.lThreshold > c.uThreshold) return undefined;  // ESRCH or ERANGE: the table decides
        if (c.tunnel && c.tunnel.type !== 'ipip') {
          plan.push({ local: refused(op, ERRNO.EINVAL, `the director tunnels with IPIP only, not ${c.tunnel.type}`) });
          break;
        }
        const body = serverBody(c);
        const notFound = (r: ApiResponse) => refused(op, missingOf(r) === 'server' ? ERRNO.ENOENT : ERRNO.ESRCH);
        if (c.cmd === 'add-server')
          plan.push({ op: { method: 'POST', path: `${servicePath(c.service)}/servers`, body }, outcome: (r) =>
            r.status === 201 ? done() : r.status === 404 ? notFound(r) : r.status === 409 ? refused(op, ERRNO.EEXIST) : writeRefused(op, r) });
        else
          plan.push({ op: { method: 'PUT', path: serverPath(c.service, c.server), body }, outcome: (r) =>
            r.status === 200 ? done() : r.status === 404 ? notFound(r) : writeRefused(op, r) });
        break;
      }
      case 'delete-server':
        if (c.service.af === 6 || c.server.af === 6) { plan.push({ local: refused(op, ERRNO.EAFNOSUPPORT) }); break; }
        plan.push({ op: { method: 'DELETE', path: serverPath(c.service, c.server) }, outcome: (r) =>
          r.status === 204 ? done() : r.status === 404 ? refused(op, missingOf(r) === 'server' ? ERRNO.ENOENT : ERRNO.ESRCH) : writeRefused(op, r) });
        break;
      case 'flush':
        plan.push({ op: { method: 'DELETE', path: '/v1/services' }, outcome: (r) => (r.status === 204 ? done() : writeRefused(op, r)) });
        break;
      case 'set': {
        // 0 leaves a timeout as it is.
        const t = Object.fromEntries(Object.entries(c.timeouts).filter(([, v]) => v));
        if (!Object.keys(t).length) { plan.push({ local: done() }); break; }
        plan.push({ op: { method: 'PATCH', path: '/v1/timeouts', body: t }, outcome: (r) => (r.status === 200 ? done() : writeRefused(op, r)) });
        break;
      }
      default:
        return undefined;
    }
  }
  return plan;
}

/** Sends a planned restore as one change and reads each line's answer. */
export async function runBatch(plan: BatchLine[], ctx: RunContext): Promise<Outcome[]> {
  const ops = plan.flatMap((l) => ('op' in l ? [l.op] : []));
  let results: ApiResponse[] = [];
  if (ops.length) {
    const r = await ctx.api.request('POST', '/v1/batch', { ops });
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
