// A stand-in for the director's REST API, holding the kernel table the ipvsadm oracle had
// (test/golden/ipvsadm/*.json) as the API would present it, so fvsadm's whole path (parse,
// requests, API JSON, kernel errors, output) runs without a director. It answers the routes
// fvsadm uses with the real API's statuses (201/204, 404 for a missing service or server, 409
// for an existing one, 400 for a body the schema refuses) and applies writes, so a test can
// compare the table after a step with the oracle's. Conversions here are written
// independently of src/ipvsadm/model.ts and run.ts, which they check.
import { SCHEDULERS } from '../../src/control/config_schema';
import { serverProblems } from '../../src/control/config_load';
import type { ApiConnection, ApiRealServer, ApiService } from '../../src/ipvsadm/model';
import { NdjsonBody, type ApiClient, type ApiResponse } from '../../src/client/http';

// ---- the oracle's table, as dumped by scripts/capture-ipvsadm-golden ------------------------------

type Num = number | string;
interface OracleStats { conns: Num; inpkts: Num; outpkts: Num; inbytes: Num; outbytes: Num; cps: Num; inpps: Num; outpps: Num; inbps: Num; outbps: Num }
interface OracleDest { address: string; port: number; connFlags: number; weight: number; uThreshold: number; lThreshold: number; activeConns: number; inactConns: number; persistConns: number; stats: OracleStats }
interface OracleService { protocol: number; address: string; port: number; fwmark: number; scheduler: string; flags: number; timeout: number; netmask: string; stats: OracleStats; dests: OracleDest[] }
export interface OracleState { services: OracleService[]; timeouts: { tcp: number; tcpfin: number; udp: number }; daemons: unknown[] }

const PERSISTENT = 0x1, ONEPACKET = 0x4, SCHED1 = 0x8, SCHED2 = 0x10, SCHED3 = 0x20;
const big = (n: Num) => (typeof n === 'string' ? BigInt(n) : n);
const counters = (s: OracleStats) => ({ conns: big(s.conns), inpkts: big(s.inpkts), outpkts: big(s.outpkts), inbytes: big(s.inbytes), outbytes: big(s.outbytes) });
const rateCounters = (s: OracleStats) => ({ cps: Number(s.cps), inpps: Number(s.inpps), outpps: Number(s.outpps), inbps: Number(s.inbps), outbps: Number(s.outbps) });
const ZERO = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const ZERO_RATES = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };

function flagNames(scheduler: string, flags: number): string[] {
  const sh = scheduler === 'sh' || scheduler === 'mh';
  const names: string[] = [];
  if (flags & SCHED1) names.push(sh ? `${scheduler}-fallback` : 'flag-1');
  if (flags & SCHED2) names.push(sh ? `${scheduler}-port` : 'flag-2');
  if (flags & SCHED3) names.push('flag-3');
  return names;
}

/** IPv6 text as inet_ntop writes it, for ids (node's URL writes the same compressed form for
 * every address but ::a.b.c.d and ::ffff:a.b.c.d, which these tests do not use). */
const v6 = (a: string) => new URL(`http://[${a}]/`).hostname.slice(1, -1);
const hostPort = (a: string, port: number) => (a.includes(':') ? `[${v6(a)}]:${port}` : `${a}:${port}`);
const idOf = (s: { fwmark?: number; family?: string; protocol?: string; address?: string; port?: number }) =>
  s.fwmark ? `${s.family === 'ipv6' ? 'fwmark6' : 'fwmark'}:${s.fwmark}` : `${s.protocol}:${hostPort(s.address!, s.port!)}`;

/** The oracle's service as GET /v1/services shows it: real servers in config order, oldest
 * first (the kernel keeps them newest first). */
export function apiServiceOf(o: OracleService): ApiService {
  const proto = ({ 6: 'tcp', 17: 'udp', 132: 'sctp' } as Record<number, 'tcp' | 'udp' | 'sctp'>)[o.protocol];
  const s: ApiService = o.fwmark ? { fwmark: o.fwmark } : { protocol: proto, address: o.address, port: o.port };
  s.scheduler = o.scheduler as ApiService['scheduler'];
  const names = flagNames(o.scheduler, o.flags);
  if (names.length) s.schedFlags = names as ApiService['schedFlags'];
  if (o.flags & PERSISTENT) s.persistence = { timeout: o.timeout, ...(o.netmask !== '255.255.255.255' ? { netmask: o.netmask } : {}) };
  if (o.flags & ONEPACKET) s.onePacket = true;
  s.id = idOf(s);
  s.stats = counters(o.stats);
  s.rates = rateCounters(o.stats);
  s.realServers = [...o.dests].reverse().map((d): ApiRealServer => ({
    id: `${d.address}:${d.port}`, address: d.address, port: d.port,
    method: (['nat', 'dr', 'tun', 'dr'] as const)[d.connFlags & 3] /* masq, local, tunnel, route */, weight: d.weight,
    ...(d.uThreshold ? { upperThreshold: d.uThreshold } : {}), ...(d.lThreshold ? { lowerThreshold: d.lThreshold } : {}),
    effectiveWeight: d.weight, inDataplane: true, activeConns: d.activeConns, inactConns: d.inactConns, persistConns: d.persistConns,
    stats: counters(d.stats), rates: rateCounters(d.stats),
  }));
  return s;
}

/** /proc/net/ip_vs_conn (the oracle's FAKE_CONN file, or the kernel's: IPv6 in full form) as
 * GET /v1/connections lists it. */
export function apiConnectionsOf(text: string): ApiConnection[] {
  const hexAddr = (h: string) => (h.includes(':') ? h : [24, 16, 8, 0].map((sh) => (parseInt(h, 16) >>> sh) & 255).join('.'));
  const end = (a: string, p: string) => hostPort(hexAddr(a), parseInt(p, 16));
  return text.split('\n').slice(1).filter((l) => l.trim()).map((l) => {
    const [protocol, ca, cp, va, vp, da, dp, state, expires, peName, peData] = l.trim().split(/\s+/);
    return {
      protocol, expiresSeconds: Number(expires), state, template: state === 'NONE',
      source: end(ca, cp), virtual: end(va, vp), destination: end(da, dp),
      ...(peName !== undefined ? { peName, peData: peData ?? '' } : {}),
    };
  });
}

/** What a table comparison looks at: every service's kernel attributes, real servers in order. */
export function comparable(services: ApiService[], withStats: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of services) {
    out[idOf(s)] = {
      scheduler: s.scheduler ?? 'wlc', schedFlags: [...(s.schedFlags ?? [])].sort(),
      persistence: s.persistence ? { timeout: s.persistence.timeout ?? 360, netmask: s.persistence.netmask ?? '255.255.255.255' } : null,
      onePacket: !!s.onePacket,
      ...(withStats ? { stats: String(Object.values(s.stats ?? ZERO)) } : {}),
      realServers: (s.realServers ?? []).map((r) => ({
        address: r.address, port: r.port, method: r.method ?? 'dr', weight: r.weight ?? 1,
        upper: r.upperThreshold ?? 0, lower: r.lowerThreshold ?? 0, ...(withStats ? { stats: String(Object.values(r.stats ?? ZERO)) } : {}),
      })),
    };
  }
  return out;
}

// ---- the API ----------------------------------------------------------------------------------

const answer = (status: number, body: unknown = null): ApiResponse => ({ status, body });
const problem = (status: number, message: string) =>
  answer(status, { statusCode: status, error: { 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict' }[status] ?? 'Error', message });

export class FakeDirector implements ApiClient {
  services: ApiService[];
  timeouts: { tcp: number; tcpfin: number; udp: number };
  readonly connections: ApiConnection[];
  readonly log: string[] = [];
  /** Fulcrum ports with a kernel interface (a sync daemon's --mcast-interface names one). */
  ports = ['eth0', 'eth1'];
  /** Running sync daemons, as GET /v1/sync lists them. */
  daemons: Array<{ state: string; interface: string; syncId: number; maxlen: number; group: string; port: number; ttl: number; stats: object }> = [];

  constructor(state: OracleState, connsText?: string) {
    this.services = state.services.map(apiServiceOf);
    this.timeouts = { ...state.timeouts };
    this.connections = connsText ? apiConnectionsOf(connsText) : [];
  }

  private find(id: string) { return this.services.find((s) => s.id === id); }

  private badService(b: ApiService): string | undefined {
    if (b.scheduler && !(SCHEDULERS as readonly string[]).includes(b.scheduler)) return `scheduler: must be one of ${SCHEDULERS.join(', ')}`;
    const v6svc = b.address?.includes(':') || b.family === 'ipv6';
    const mask = b.persistence?.netmask;
    if (mask !== undefined && (typeof mask === 'number') !== !!v6svc) return 'persistence.netmask: dotted for IPv4, a prefix length for IPv6';
    if (!b.fwmark && b.port === 0 && !b.persistence) return 'services[0].port: zero port specified for non-persistent service';
    return undefined;
  }

  /** /v1/sync as the director answers it (the kernel's defaults: maxlen 1472, a backup's at least 1024). */
  private sync(method: string, parts: string[], body: unknown): ApiResponse {
    if (method === 'GET' && parts.length === 2) return answer(200, { daemons: structuredClone(this.daemons), tunables: {} });
    if (method === 'POST' && parts[2] === 'daemons' && parts.length === 3) {
      const b = body as { state: string; interface: string; syncId?: number; maxlen?: number; group?: string; port?: number; ttl?: number };
      if (!this.ports.includes(b.interface))
        return answer(400, { statusCode: 400, message: 'refused', problems: [`daemon.interface: no port named '${b.interface}' (ports: ${this.ports.join(', ')})`] });
      if (this.daemons.some((d) => d.state === b.state)) return problem(409, `a ${b.state} sync daemon is already running`);
      const maxlen = b.maxlen === undefined ? 1472 : Math.max(b.maxlen, b.state === 'backup' ? 1024 : 1);
      const d = { state: b.state, interface: b.interface, syncId: b.syncId ?? 0, maxlen, group: b.group ?? '224.0.0.81', port: b.port ?? 8848, ttl: b.ttl ?? 1, stats: {} };
      this.daemons = [...this.daemons, d].sort((x, y) => (x.state === 'master' ? -1 : 1) - (y.state === 'master' ? -1 : 1));
      return answer(201, structuredClone(d));
    }
    if (method === 'DELETE' && parts[2] === 'daemons' && parts.length === 4) {
      if (!this.daemons.some((d) => d.state === parts[3])) return problem(404, `no ${parts[3]} sync daemon is running`);
      this.daemons = this.daemons.filter((d) => d.state !== parts[3]);
      return answer(204);
    }
    return problem(404, `no route ${method} /${parts.join('/')}`);
  }

  async request(method: string, fullPath: string, body?: unknown): Promise<ApiResponse> {
    this.log.push(`${method} ${fullPath}`);
    const url = new URL(fullPath, 'http://director');
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);  // v1, services, id, servers, server
    if (parts[1] === 'services' && parts[2]?.includes('[')) parts[2] = parts[2].replace(/\[(.*)\]/, (_m, a: string) => `[${v6(a)}]`);
    if (parts[4]?.includes('[')) parts[4] = parts[4].replace(/\[(.*)\]/, (_m, a: string) => `[${v6(a)}]`);
    const key = `${method} /${parts.map((p, i) => (i === 2 && parts[1] === 'services' ? ':id' : i === 4 ? ':server' : p)).join('/')}`;
    const svc = parts[1] === 'services' && parts[2] ? this.find(parts[2]) : undefined;
    const noService = () => ({ ...problem(404, `service ${parts[2]} not found`), body: { statusCode: 404, message: `service ${parts[2]} not found`, missing: 'service' } });
    const server = svc && parts[4] ? (svc.realServers ?? []).find((r) => r.id === parts[4]) : undefined;
    const noServer = () => ({ ...problem(404, `real server ${parts[4]} of service ${parts[2]} not found`), body: { statusCode: 404, message: `real server ${parts[4]} of service ${parts[2]} not found`, missing: 'server' } });
    if (parts[1] === 'sync') return this.sync(method, parts, body);
    switch (key) {
      case 'GET /v1/services': return answer(200, structuredClone(this.services));
      case 'GET /v1/services/:id': return svc ? answer(200, structuredClone(svc)) : noService();
      case 'POST /v1/services': {
        const b = body as ApiService;
        const bad = this.badService(b);
        if (bad) return problem(400, bad);
        const id = idOf(b);
        if (this.find(id)) return problem(409, `service ${id} already exists`);
        const s: ApiService = { ...structuredClone(b), id, stats: { ...ZERO }, rates: { ...ZERO_RATES }, realServers: [] };
        this.services.push(s);
        return answer(201, structuredClone(s));
      }
      case 'PUT /v1/services/:id': {
        if (!svc) return noService();
        const b = body as ApiService;
        const bad = this.badService(b);
        if (bad) return problem(400, bad);
        const next: ApiService = { ...structuredClone(b), id: svc.id, stats: svc.stats, rates: svc.rates, realServers: svc.realServers };
        // As the API: what ipvsadm cannot say (checks, quorum, sorry server) is kept when absent.
        for (const k of ['healthChecks', 'inhibitOnFailure', 'sorryServer', 'quorum', 'hysteresis'] as const)
          if (b[k] === undefined && svc[k] !== undefined) (next as Record<string, unknown>)[k] = structuredClone(svc[k]);
        this.services = this.services.map((x) => (x === svc ? next : x));
        return answer(200, structuredClone(next));
      }
      case 'DELETE /v1/services':
        this.services = [];
        return answer(204);
      case 'DELETE /v1/services/:id':
        if (!svc) return noService();
        this.services = this.services.filter((x) => x !== svc);
        return answer(204);
      case 'GET /v1/services/:id/servers': return svc ? answer(200, structuredClone(svc.realServers)) : noService();
      case 'POST /v1/services/:id/servers': {
        if (!svc) return noService();
        const b = body as ApiRealServer;
        const id = hostPort(b.address, b.port ?? svc.port ?? 0);
        if ((svc.realServers ?? []).some((r) => r.id === id)) return problem(409, `real server ${id} already exists`);
        // IPv6 and mixed families: the director's own rules (the IPv4 fixtures keep the oracle's)
        const rules = b.address.includes(':') || svc.address?.includes(':') || svc.family === 'ipv6'
          ? serverProblems(b as never, 'realServer', { localAddresses: ['198.18.255.1'] }, svc as never) : [];
        if (rules.length) return answer(400, { statusCode: 400, message: 'refused', problems: rules });
        if ((b.lowerThreshold ?? 0) > (b.upperThreshold ?? 0)) return problem(400, 'lowerThreshold: must not exceed upperThreshold');
        const r: ApiRealServer = { ...structuredClone(b), id, effectiveWeight: b.weight ?? 1, inDataplane: true, activeConns: 0, inactConns: 0, persistConns: 0, stats: { ...ZERO }, rates: { ...ZERO_RATES } };
        svc.realServers = [...(svc.realServers ?? []), r];
        return answer(201, structuredClone(r));
      }
      case 'GET /v1/services/:id/servers/:server':
        if (!svc) return noService();
        return server ? answer(200, structuredClone(server)) : noServer();
      case 'PUT /v1/services/:id/servers/:server': {
        if (!svc) return noService();
        if (!server) return noServer();
        const b = body as ApiRealServer;
        if (hostPort(b.address, b.port ?? svc.port ?? 0) !== server.id) return problem(400, 'the body names another real server');
        const next: ApiRealServer = { ...structuredClone(b), id: server.id, effectiveWeight: b.weight ?? 1, inDataplane: true, activeConns: server.activeConns,
          inactConns: server.inactConns, persistConns: server.persistConns, stats: server.stats, rates: server.rates };
        if (b.healthChecks === undefined && server.healthChecks !== undefined) next.healthChecks = structuredClone(server.healthChecks);
        svc.realServers = svc.realServers!.map((x) => (x === server ? next : x));
        return answer(200, structuredClone(next));
      }
      case 'DELETE /v1/services/:id/servers/:server':
        if (!svc) return noService();
        if (!server) return noServer();
        svc.realServers = svc.realServers!.filter((x) => x !== server);
        return answer(204);
      case 'GET /v1/config':
        return answer(200, { services: this.services.map(({ id: _i, stats: _s, rates: _r, ...c }) => c), timeouts: { ...this.timeouts } });
      case 'PUT /v1/config': {
        const b = body as { services?: ApiService[]; timeouts?: FakeDirector['timeouts'] };
        this.services = (b.services ?? []).map((s) => ({ ...s, id: idOf(s), stats: { ...ZERO }, rates: { ...ZERO_RATES } }));
        if (b.timeouts) this.timeouts = { ...b.timeouts };
        return answer(200, b);
      }
      case 'POST /v1/stats/zero': {
        const only = url.searchParams.get('service');
        const targets = only ? this.services.filter((s) => s.id === only) : this.services;
        if (only && !targets.length) return problem(404, `service ${only} not found`);
        for (const s of targets) {
          s.stats = { ...ZERO }; s.rates = { ...ZERO_RATES };
          for (const r of s.realServers ?? []) { r.stats = { ...ZERO }; r.rates = { ...ZERO_RATES }; }
        }
        return answer(204);
      }
      case 'GET /v1/timeouts': return answer(200, { ...this.timeouts });
      case 'POST /v1/batch': {
        // As the API: each write answered as its route answers it (the fake has no snapshots to
        // make atomic).
        const results = [];
        const ops = body instanceof NdjsonBody ? body.items : (body as { ops: unknown[] }).ops;
        for (const op of ops as Array<{ method: string; path: string; body?: unknown }>) {
          const r = await this.request(op.method, op.path, op.body);
          results.push({ status: r.status, ...(r.body && typeof r.body === 'object' ? r.body as object : {}) });
        }
        return answer(200, { results });
      }
      case 'PATCH /v1/timeouts': {
        const t = { ...this.timeouts, ...(body as Partial<FakeDirector['timeouts']>) };
        if (![t.tcp, t.tcpfin, t.udp].every((v) => Number.isInteger(v) && v >= 1 && v <= 2147483)) return problem(400, 'timeouts: each must be 1..2147483');
        this.timeouts = t;
        return answer(200, t);
      }
      case 'PUT /v1/timeouts': {
        const t = body as FakeDirector['timeouts'];
        if (![t.tcp, t.tcpfin, t.udp].every((v) => Number.isInteger(v) && v >= 1 && v <= 2147483)) return problem(400, 'timeouts: each must be 1..2147483');
        this.timeouts = { ...t };
        return answer(200, t);
      }
      case 'GET /v1/connections': {
        const limit = Number(url.searchParams.get('limit') ?? 1000), offset = Number(url.searchParams.get('offset') ?? 0);
        const page = this.connections.slice(offset, offset + limit);
        return answer(200, { connections: structuredClone(page), offset, next: this.connections.length > offset + limit ? offset + limit : null });
      }
      default:
        return problem(404, `no route ${method} ${url.pathname}`);
    }
  }
}
