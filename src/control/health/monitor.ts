// Runs the config's health checks and says what the dataplane should have as a result —
// keepalived's checker side (reference §5): every check of a real server keeps its own
// rise/fall state, a real server is up while all its checks are, a failed one is removed (or
// kept at weight 0 with inhibitOnFailure), dynamic weights replace configured ones, and each
// service keeps quorum with hysteresis, handing its traffic to a sorry server when it loses it.
// It owns the check loops and that state; the caller owns the config and applies effective().
import type { FulcrumConfig, HealthCheckConfig, RealServerConfig, ServiceConfig } from '../config_schema';
import { serviceKey } from '../identity';
import { runCheck, type CheckResult, type CheckTarget } from './checkers';

export interface HealthLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

export interface LastResult {
  ok: boolean;
  detail: string;
  at: string;
  durationMs: number;
}

export interface RealServerStatus {
  service: string;
  address: string;
  port: number;
  state: 'up' | 'down' | 'unchecked';
  since: string;
  lastResult: LastResult | null;
  /** Present while a check reports a dynamic weight: the weight the dataplane gets when up. */
  weight?: number;
}

export interface QuorumStatus {
  service: string;
  hasQuorum: boolean;
  sorryActive: boolean;
}

// The schema's defaults: validateConfig does not fill them in.
const DEFAULTS = { interval: 5, fall: 3, rise: 2, delayBeforeRetry: 1, warmup: 0 };

/** One check of one real server: its rise/fall state and its timer or attempt in flight. */
interface Loop {
  check: HealthCheckConfig;
  up: boolean;
  successes: number;
  failures: number;
  timer?: NodeJS.Timeout;
  inflight?: AbortController;
  last: LastResult | null;
  /** Absolute weight from a dynamic command check, kept until it reports another. */
  weight?: number;
  /** Weight factor from an agent, kept until it reports another. */
  factor?: number;
}

interface Entry {
  service: string;
  address: string;
  port: number;
  /** The checks and target this entry was started for; a different one restarts it. */
  signature: string;
  loops: Loop[];
  up: boolean;
  since: string;
  stopped: boolean;
  /** The real server as in the config of the last update(), for its configured weight. */
  rs: RealServerConfig;
}

/** The port the dataplane uses for a real server: DR and TUN keep the service's (native_config). */
function rsPort(s: ServiceConfig, r: RealServerConfig): number {
  const method = r.method ?? 'dr';
  return s.fwmark === undefined && (method === 'dr' || method === 'tun') ? s.port ?? 0 : r.port ?? s.port ?? 0;
}

const entryKey = (s: ServiceConfig, r: RealServerConfig) => `${serviceKey(s)} -> ${r.address}:${rsPort(s, r)}`;

/** JSON with object keys sorted, so the same checks written in another order compare equal. */
const canonical = (v: unknown) => JSON.stringify(v, (_k, x) =>
  x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x);

export class HealthMonitor {
  private readonly log?: HealthLog;
  private readonly onChange: (serviceKeys: string[]) => void;
  private readonly byKey = new Map<string, ServiceConfig>();
  private lastList?: ServiceConfig[];
  private readonly allowCommands: boolean;
  private cfg: FulcrumConfig | undefined;
  private readonly entries = new Map<string, Entry>();
  /** Per service key; a service never evaluated has quorum (keepalived starts with it). */
  private readonly quorumState = new Map<string, boolean>();
  private readonly count = { checks: 0, failures: 0, transitions: 0 };

  constructor(opts: { log?: HealthLog; onChange: (serviceKeys: string[]) => void; allowCommands?: boolean }) {
    this.log = opts.log;
    this.onChange = opts.onChange;
    this.allowCommands = opts.allowCommands ?? false;
  }

  /** Services added or changed, and services gone (by serviceKey). */
  updateServices(changed: ServiceConfig[], removed: string[]): void {
    for (const k of removed) this.byKey.delete(k);
    for (const s of changed) this.byKey.set(serviceKey(s), s);
    this.lastList = [...this.byKey.values()];
    this.update({ ...(this.cfg ?? { dataplane: { ports: [] } }), services: this.lastList } as FulcrumConfig);
  }

  /** Starts and stops check loops to match cfg; a real server whose checks did not change
   * keeps its state and timers. */
  update(cfg: FulcrumConfig): void {
    this.cfg = cfg;
    if (cfg.services !== this.lastList) {
      this.byKey.clear();
      for (const s of cfg.services ?? []) this.byKey.set(serviceKey(s), s);
    }
    const wanted = new Map<string, { s: ServiceConfig; r: RealServerConfig; checks: HealthCheckConfig[] }>();
    for (const s of cfg.services ?? [])
      for (const r of s.realServers ?? []) wanted.set(entryKey(s, r), { s, r, checks: r.healthChecks ?? s.healthChecks ?? [] });
    for (const [key, e] of this.entries) {
      const w = wanted.get(key);
      if (!w || canonical(w.checks) !== e.signature) {
        this.halt(e);
        this.entries.delete(key);
      }
    }
    const now = new Date().toISOString();
    for (const [key, { s, r, checks }] of wanted) {
      const kept = this.entries.get(key);
      if (kept) {
        kept.rs = r;
        continue;
      }
      const e: Entry = {
        service: serviceKey(s), address: r.address, port: rsPort(s, r), signature: canonical(checks),
        loops: checks.map((check) => ({ check, up: true, successes: 0, failures: 0, last: null })),
        up: true, since: now, stopped: false, rs: r,
      };
      this.entries.set(key, e);
      for (const loop of e.loops) this.schedule(e, loop, Math.random() * (loop.check.warmup ?? DEFAULTS.warmup));
    }
    const services = new Set((cfg.services ?? []).map(serviceKey));
    for (const k of this.quorumState.keys()) if (!services.has(k)) this.quorumState.delete(k);
  }

  /** The config as the dataplane should have it now; cfg itself is left as it is. Evaluates
   * each service's quorum, which may change it (the caller is applying the result anyway). */
  effective(cfg: FulcrumConfig): FulcrumConfig {
    const out = structuredClone(cfg);
    if (out.services) out.services = out.services.map((s) => this.effectiveService(s));
    return out;
  }

  status(): RealServerStatus[] {
    const rows: RealServerStatus[] = [];
    for (const s of this.cfg?.services ?? []) {
      for (const r of s.realServers ?? []) {
        const e = this.entries.get(entryKey(s, r));
        if (!e) continue;
        const row: RealServerStatus = {
          service: e.service, address: e.address, port: e.port,
          state: e.loops.length === 0 ? 'unchecked' : e.up ? 'up' : 'down',
          since: e.since, lastResult: this.lastResult(e),
        };
        if (e.loops.some((l) => l.weight !== undefined || l.factor !== undefined)) row.weight = this.weight(e, r);
        rows.push(row);
      }
    }
    return rows;
  }

  /** The rows of status() for one service. */
  statusOf(serviceKeyOf: string): RealServerStatus[] {
    return this.status().filter((r) => r.service === serviceKeyOf);
  }

  quorum(): QuorumStatus[] {
    return (this.cfg?.services ?? []).map((s) => {
      const hasQuorum = this.quorumState.get(serviceKey(s)) ?? true;
      return { service: serviceKey(s), hasQuorum, sorryActive: !hasQuorum && s.sorryServer !== undefined };
    });
  }

  counters(): { checks: number; failures: number; transitions: number } {
    return { ...this.count };
  }

  /** Clears every timer and aborts every check in flight; update() starts afresh. */
  stop(): void {
    for (const e of this.entries.values()) this.halt(e);
    this.entries.clear();
  }

  private halt(e: Entry) {
    e.stopped = true;
    for (const loop of e.loops) {
      clearTimeout(loop.timer);
      loop.timer = undefined;
      loop.inflight?.abort();
      loop.inflight = undefined;
    }
  }

  private schedule(e: Entry, loop: Loop, delayS: number) {
    loop.timer = setTimeout(() => {
      loop.timer = undefined;
      void this.run(e, loop);
    }, delayS * 1000);
    // The monitor alone never keeps the process alive.
    loop.timer.unref();
  }

  private async run(e: Entry, loop: Loop) {
    const target: CheckTarget = { address: e.address, port: e.port };
    const ac = new AbortController();
    loop.inflight = ac;
    const started = performance.now();
    const result: CheckResult = loop.check.type === 'command' && !this.allowCommands
      ? { ok: false, detail: 'command checks are not allowed here (only from the config file)' }
      : await runCheck(loop.check, target, { signal: ac.signal }).catch((err: Error) => ({ ok: false, detail: `check failed: ${err.message}` }));
    if (e.stopped || ac.signal.aborted) return;
    loop.inflight = undefined;
    this.record(e, loop, result, performance.now() - started);
  }

  /** Applies one result: rise/fall, the next attempt's time, and what changed for the dataplane. */
  private record(e: Entry, loop: Loop, result: CheckResult, durationMs: number) {
    const c = loop.check;
    this.count.checks++;
    if (!result.ok) this.count.failures++;
    loop.last = { ok: result.ok, detail: `${c.type}: ${result.detail}`, at: new Date().toISOString(), durationMs: Math.round(durationMs) };
    const weightBefore = this.weight(e, e.rs);
    let next = c.interval ?? DEFAULTS.interval;
    if (result.ok) {
      loop.failures = 0;
      if (result.weight !== undefined) loop.weight = result.weight;
      if (result.weightFactor !== undefined) loop.factor = result.weightFactor;
      if (!loop.up && ++loop.successes >= (c.rise ?? DEFAULTS.rise)) {
        loop.up = true;
        loop.successes = 0;
      }
    } else {
      loop.successes = 0;
      if (loop.up) {
        if (++loop.failures >= (c.fall ?? DEFAULTS.fall)) {
          loop.up = false;
          loop.failures = 0;
        } else {
          next = c.delayBeforeRetry ?? DEFAULTS.delayBeforeRetry;
        }
      }
    }
    this.schedule(e, loop, next);

    const up = e.loops.every((l) => l.up);
    const stateChanged = up !== e.up;
    if (stateChanged) {
      e.up = up;
      e.since = loop.last.at;
      this.count.transitions++;
      const o = { service: e.service, address: e.address, port: e.port, detail: loop.last.detail };
      if (up) this.log?.info(o, 'real server up');
      else this.log?.warn(o, 'real server down');
    }
    const weightChanged = e.up && this.weight(e, e.rs) !== weightBefore;
    const s = this.cfg?.services?.find((x) => serviceKey(x) === e.service);
    const quorumChanged = s !== undefined && this.judgeQuorum(s);
    if (stateChanged || weightChanged || quorumChanged) this.onChange([e.service]);
  }

  /** The last result worth showing: while down, the latest from a failing check. */
  private lastResult(e: Entry): LastResult | null {
    const pool = e.up ? e.loops : e.loops.filter((l) => !l.up);
    return pool.reduce<LastResult | null>((best, l) => (l.last && (!best || l.last.at >= best.at) ? l.last : best), null);
  }

  /** The weight a live real server has: a dynamic command's, else the configured one, scaled by agents. */
  private weight(e: Entry | undefined, r: RealServerConfig): number {
    const loops = e?.loops ?? [];
    const base = loops.find((l) => l.weight !== undefined)?.weight ?? r.weight ?? 1;
    const factor = loops.reduce((f, l) => f * (l.factor ?? 1), 1);
    return Math.max(0, Math.round(base * factor));
  }

  /** Each real server of s with whether it is up (unmonitored ones are) and its live weight. */
  private assess(s: ServiceConfig) {
    return (s.realServers ?? []).map((r) => {
      const e = this.entries.get(entryKey(s, r));
      return { r, up: e?.up ?? true, weight: this.weight(e, r) };
    });
  }

  /** keepalived's quorum rule; returns whether the service's quorum state changed. */
  private judgeQuorum(s: ServiceConfig): boolean {
    const key = serviceKey(s);
    const had = this.quorumState.get(key) ?? true;
    const sum = this.assess(s).reduce((acc, x) => acc + (x.up ? x.weight : 0), 0);
    const quorum = s.quorum ?? 1;
    const hysteresis = s.hysteresis ?? 0;
    const threshold = had ? quorum - hysteresis : quorum + hysteresis;
    const has = had ? !(sum === 0 || sum < threshold) : sum >= threshold;
    this.quorumState.set(key, has);
    if (has === had) return false;
    const o = { service: key, weightSum: sum, threshold, sorryServer: s.sorryServer ? `${s.sorryServer.address}:${s.sorryServer.port ?? s.port ?? 0}` : null };
    if (has) this.log?.info(o, 'service regained quorum');
    else this.log?.warn(o, 'service lost quorum');
    return true;
  }

  /** The service as the dataplane should have it now (quorum judged). */
  effectiveService(s: ServiceConfig): ServiceConfig {
    this.judgeQuorum(s);
    const sorry = this.quorumState.get(serviceKey(s)) ? undefined : s.sorryServer;
    const realServers: RealServerConfig[] = [];
    for (const { r, up, weight } of this.assess(s)) {
      // With quorum lost, the sorry server takes the live servers' place (keepalived removes
      // them); failed ones kept at weight 0 stay as they are.
      if (up && !sorry) realServers.push({ ...r, weight });
      else if (!up && s.inhibitOnFailure) realServers.push({ ...r, weight: 0 });
    }
    if (sorry) {
      const port = sorry.port ?? s.port;
      const stand: RealServerConfig = { address: sorry.address, ...(port !== undefined ? { port } : {}), method: sorry.method ?? 'nat', weight: 1 };
      // The dataplane takes each address:port once: the sorry server replaces its own failed entry.
      const kept = realServers.filter((r) => entryKey(s, r) !== entryKey(s, stand));
      return { ...s, realServers: [...kept, stand] };
    }
    return s.realServers === undefined ? s : { ...s, realServers };
  }
}
