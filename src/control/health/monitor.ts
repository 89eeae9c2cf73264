// Runs the config's health checks and says what the dataplane should have as a result —
// keepalived's checker side (reference §5): every check of a real server keeps its own
// rise/fall state, a real server is up while all its checks are, a failed one is removed (or
// kept at weight 0 with inhibitOnFailure), dynamic weights replace configured ones, and each
// service keeps quorum with hysteresis, handing its traffic to a sorry server when it loses it.
// It owns the check loops and that state; the caller owns the config. Everything is per
// service and incremental, so 10,000 services cost nothing while they are quiet: services are
// indexed by key, updateServices() touches only the services named, a result finds its service
// in O(1), and onChange() reports only the keys of the services whose dataplane form changed,
// gathered over a short window. update()/effective() on a whole config remain for callers that
// still think in whole configs. A backend is probed once however many services list it: real
// servers with the same address:port and the same checks (a virtual_server_group's VIPs, the
// same pool behind several ports) share one probe — its check loops and its up/down state —
// which runs while one service still uses it; each service applies that state to its own
// weights and quorum. When checks run is schedule.ts's (one timer, a bounded number in
// flight); where they run, tcp_checker.ts's for TCP (the addon's thread) and pool.ts's for
// the others (a check thread by default). A real server without checks has no probe and no
// object of its own here (most of a large site's real servers: a 100,000-server restore made
// over 20 MB of them for the garbage collector to copy): it is up at its configured weight, and
// its service's record alone says since when it has been listed.
import type { FulcrumConfig, HealthCheckConfig, RealServerConfig, ServiceConfig } from '../config_schema';
import { serviceKey } from '../identity';
import { runCheck, type CheckResult } from './checkers';
import type { EgressGuard } from './egress';
import { CheckPool } from './pool';
import { CheckScheduler, type Job, type SchedulingStatus } from './schedule';
import { TcpChecker } from './tcp_checker';
import { hostPort } from '../address';

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
// warmup's default is the interval: first checks are spread over it rather than all at once.
const DEFAULTS = { interval: 5, fall: 3, rise: 2, delayBeforeRetry: 1 };

/** A check's last result as recorded: the check type's prefix and the ISO time are added only
 * when it is shown (status()), not 20,000 times a second. */
interface Recorded {
  ok: boolean;
  detail: string;
  /** Date.now() when it was recorded. */
  atMs: number;
  durationMs: number;
}

/** One check of one probe: its rise/fall state, its place in the schedule (Job) and its
 * attempt in flight. */
interface Loop extends Job {
  probe: Probe;
  check: HealthCheckConfig;
  up: boolean;
  successes: number;
  failures: number;
  /** Present while an attempt is in flight: ends it at once (when the loop is halted). */
  cancel?: () => void;
  last: Recorded | null;
  /** Absolute weight from a dynamic command check, kept until it reports another. */
  weight?: number;
  /** Weight factor from an agent, kept until it reports another. */
  factor?: number;
}

/** A target's checks and their verdict, shared by every service whose real server has this
 * address:port and these checks. */
interface Probe {
  /** The checks' canonical JSON and address:port: what makes two real servers one probe. */
  signature: string;
  target: string;
  address: string;
  port: number;
  loops: Loop[];
  up: boolean;
  /** Date.now() of the last change of up (or of the probe's start). */
  sinceMs: number;
  stopped: boolean;
  /** The services' entries that use it; the last one to go stops it. */
  users: Set<Entry>;
}

/** A real server of one service: the probe it follows and its configured form. */
interface Entry {
  /** The service's key (serviceKey()). */
  service: string;
  probe: Probe;
  /** The real server as in the service's last update, for its configured weight. */
  rs: RealServerConfig;
}

/** The port the dataplane uses for a real server: DR and TUN keep the service's (native_config). */
function rsPort(s: ServiceConfig, r: RealServerConfig): number {
  const method = r.method ?? 'dr';
  return s.fwmark === undefined && (method === 'dr' || method === 'tun') ? s.port ?? 0 : r.port ?? s.port ?? 0;
}

/** A real server's key within its service: the address:port the dataplane knows it by. */
const rsKey = (s: ServiceConfig, r: RealServerConfig) => hostPort(r.address, rsPort(s, r));

/** A service's quorum, and whether a change of it is worth a log line. */
interface QuorumState {
  has: boolean;
  /** It has held quorum with live real servers (since it last had none): losing it is news. */
  held: boolean;
  /** Its loss was logged, so regaining it is too. */
  lossLogged: boolean;
}

/** A service as the monitor last heard of it: the entries of its checked real servers (in
 * config order; none when it has none), and since when its unchecked ones have been listed. */
interface ServiceRecord {
  s: ServiceConfig;
  entries?: Map<string, Entry>;
  /** Date.now() when the service was first heard of: the `since` of its unchecked real servers... */
  sinceMs: number;
  /** ...except those that joined later (or lost their checks later), by key. */
  laterSince?: Map<string, number>;
  /** The weights of its unchecked real servers (always up), for the live weight sum. */
  uncheckedWeight: number;
  /** It lists a real server twice (validateConfig refuses that; the first counts). */
  dups?: true;
  /** sinceMs as shown, made once (a listing or scrape shows it for each unchecked server). */
  sinceIso?: string;
}

export interface HealthMonitorOptions {
  log?: HealthLog;
  /** Called with the keys of the services whose dataplane form changed (state, dynamic weight,
   * quorum); results within changeWindowMs of the first are reported together, once. */
  onChange: (serviceKeys: string[]) => void;
  allowCommands?: boolean;
  /** How long changes are gathered before onChange is called, ms; default 10. */
  changeWindowMs?: number;
  /** Most checks running at once; due checks beyond it wait their turn. Default 1000. */
  maxInFlight?: number;
  /** Most checks started in one event loop turn; default 200. */
  startsPerTurn?: number;
  /** Threads that run the checks other than TCP (their sockets, processes and callbacks) off
   * this thread, so thousands of checks a second do not stall it; default 1; 0 runs them here.
   * TCP checks always run on the addon's thread (tcp_checker.ts). */
  checkThreads?: number;
  /** Decides whether a check may leave towards an address (egress.ts): a refused one is a
   * failed check with the reason, and nothing is sent. Command checks are the operator's. */
  egress?: Pick<EgressGuard, 'refusal'>;
}

/** JSON with object keys sorted, so the same checks written in another order compare equal. */
const canonical = (v: unknown) => JSON.stringify(v, (_k, x) =>
  x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x);

export class HealthMonitor {
  private readonly log?: HealthLog;
  private readonly egress?: Pick<EgressGuard, 'refusal'>;
  private readonly onChange: (serviceKeys: string[]) => void;
  private readonly allowCommands: boolean;
  private readonly changeWindowMs: number;
  /** By serviceKey(), in the order they were first heard of (update() keeps the config's). */
  private services = new Map<string, ServiceRecord>();
  /** By signature, then target: a service's real servers share its signature string, so the
   * keys cost no copy per real server. */
  private readonly probes = new Map<string, Map<string, Probe>>();
  /** Per service key; a service never evaluated has quorum (keepalived starts with it). */
  private readonly quorumState = new Map<string, QuorumState>();
  private readonly count = { checks: 0, failures: 0, transitions: 0 };
  /** Services changed since onChange was last called, and the timer that will call it. */
  private readonly pending = new Set<string>();
  private flushTimer?: NodeJS.Timeout;
  private readonly scheduler: CheckScheduler<Loop>;
  private readonly pool?: CheckPool;
  private readonly tcp = new TcpChecker();

  constructor(opts: HealthMonitorOptions) {
    this.log = opts.log;
    this.onChange = opts.onChange;
    this.allowCommands = opts.allowCommands ?? false;
    this.egress = opts.egress;
    this.changeWindowMs = opts.changeWindowMs ?? 10;
    this.scheduler = new CheckScheduler<Loop>((loop, done) => this.run(loop, done), {
      maxInFlight: Math.max(1, opts.maxInFlight ?? 1000),
      startsPerTurn: Math.max(1, opts.startsPerTurn ?? 200),
    });
    const threads = opts.checkThreads ?? 1;
    if (threads > 0) this.pool = new CheckPool(threads);
  }

  /** Starts and stops the check loops of these services only: `changed` are added or replaced
   * (a real server whose checks did not change keeps its state and timers; one whose target and
   * checks another service has joins that probe and its state), `removed` (service keys) stop
   * being checked. Quorum is not evaluated here (effectiveService() does). */
  updateServices(changed: ServiceConfig[], removed: string[]): void {
    // Entries let go once the changed services have joined their probes, so a probe that moves
    // from one service to another in the same update keeps running.
    const released: Entry[] = [];
    for (const key of removed) {
      const rec = this.services.get(key);
      if (rec?.entries) released.push(...rec.entries.values());
      this.services.delete(key);
      this.quorumState.delete(key);
      this.pending.delete(key);
    }
    const signatures = new Map<HealthCheckConfig[], string>();
    const fresh: Probe[] = [];
    const now = Date.now();
    for (const s of changed) {
      const key = serviceKey(s);
      const oldRec = this.services.get(key);
      const old = oldRec?.entries;
      const rec: ServiceRecord = { s, sinceMs: oldRec?.sinceMs ?? now, uncheckedWeight: 0 };
      // validateConfig refuses a real server listed twice; should one come anyway, the first counts.
      const seen = new Set<string>();
      const wasUnchecked = oldRec && this.uncheckedKeys(oldRec);
      for (const r of s.realServers ?? []) {
        const rk = rsKey(s, r);
        if (seen.has(rk)) { rec.dups = true; continue; }
        seen.add(rk);
        const checks = r.healthChecks ?? s.healthChecks;
        if (!checks?.length) {
          rec.uncheckedWeight += this.weight(undefined, r);
          const since = wasUnchecked?.has(rk) ? this.sinceOf(oldRec!, rk) : now;
          if (since !== rec.sinceMs) (rec.laterSince ??= new Map()).set(rk, since);
          continue;
        }
        // Real servers share their service's checks: the same array has the same signature.
        let signature = signatures.get(checks);
        if (signature === undefined) signatures.set(checks, (signature = canonical(checks)));
        const entries = (rec.entries ??= new Map());
        const kept = old?.get(rk);
        if (kept && kept.probe.signature === signature) {
          kept.rs = r;
          entries.set(rk, kept);
          continue;
        }
        const e: Entry = { service: key, probe: this.probeFor(signature, rk, r.address, rsPort(s, r), checks, fresh), rs: r };
        e.probe.users.add(e);
        entries.set(rk, e);
      }
      if (old) for (const [rk, e] of old) if (rec.entries?.get(rk) !== e) released.push(e);
      this.services.set(key, rec);
    }
    for (const e of released) this.release(e);
    // New probes' first checks are spread over their warmup from now, when the loop is free to
    // start them: spread from their creation, the first second of a 100,000-server update
    // would all be due, and late, by the time it returns.
    const t = performance.now();
    for (const p of fresh)
      for (const loop of p.loops)
        this.scheduler.at(loop, t + Math.random() * (loop.check.warmup ?? loop.check.interval ?? DEFAULTS.interval) * 1000);
  }

  /** The keys of a record's unchecked real servers (O(its servers): the change path only). */
  private uncheckedKeys(rec: ServiceRecord): Set<string> {
    const keys = new Set<string>();
    for (const r of rec.s.realServers ?? []) {
      const rk = rsKey(rec.s, r);
      if (!rec.entries?.has(rk)) keys.add(rk);
    }
    return keys;
  }

  /** Since when an unchecked real server of a record has been listed. */
  private sinceOf(rec: ServiceRecord, rk: string): number {
    return rec.laterSince?.get(rk) ?? rec.sinceMs;
  }

  /** The probe of this target and these checks: the running one, or a new one (added to
   * `fresh`, its first checks still to be scheduled). */
  private probeFor(signature: string, target: string, address: string, port: number, checks: HealthCheckConfig[], fresh: Probe[]): Probe {
    let bySig = this.probes.get(signature);
    if (!bySig) this.probes.set(signature, (bySig = new Map()));
    const found = bySig.get(target);
    if (found) return found;
    const p: Probe = { signature, target, address, port, loops: [], up: true, sinceMs: Date.now(), stopped: false, users: new Set() };
    p.loops = checks.map((check) => ({ probe: p, check, up: true, successes: 0, failures: 0, last: null, due: 0, where: -1, index: -1, cancelled: false }));
    bySig.set(target, p);
    fresh.push(p);
    return p;
  }

  /** An entry no longer in its service: its probe stops when no other service uses it. */
  private release(e: Entry) {
    const p = e.probe;
    if (!p.users.delete(e) || p.users.size) return;
    this.halt(p);
    const bySig = this.probes.get(p.signature)!;
    bySig.delete(p.target);
    if (!bySig.size) this.probes.delete(p.signature);
  }

  /** The whole config: its services are updated, those no longer in it removed, and their
   * order becomes the config's. */
  update(cfg: FulcrumConfig): void {
    const services = cfg.services ?? [];
    const keys = new Set(services.map(serviceKey));
    this.updateServices(services, [...this.services.keys()].filter((k) => !keys.has(k)));
    this.services = new Map([...keys].map((k) => [k, this.services.get(k)!]));
    for (const k of this.quorumState.keys()) if (!keys.has(k)) this.quorumState.delete(k);
  }

  /** The config as the dataplane should have it now; cfg itself is left as it is. Evaluates
   * each service's quorum, which may change it (the caller is applying the result anyway). */
  effective(cfg: FulcrumConfig): FulcrumConfig {
    const out = structuredClone(cfg);
    if (out.services) out.services = out.services.map((s) => this.effectiveService(s));
    return out;
  }

  /** Every checked service's real servers, in service order. */
  status(): RealServerStatus[] {
    const rows: RealServerStatus[] = [];
    for (const rec of this.services.values()) rows.push(...this.rows(rec));
    return rows;
  }

  /** The rows of the services that have checks, one service at a time (a scrape's health
   * series: at 100,000 real servers, status() made a row object for every one of them). */
  *checked(): IterableIterator<RealServerStatus> {
    for (const rec of this.services.values()) if (rec.entries !== undefined) yield* this.rows(rec);
  }

  /** One service's rows of status(), found by key; none for a service the monitor does not know. */
  statusOf(serviceKey: string): RealServerStatus[] {
    const rec = this.services.get(serviceKey);
    return rec ? this.rows(rec) : [];
  }

  /** One service's row of quorum(); undefined for a service the monitor does not know. */
  quorumOf(serviceKey: string): QuorumStatus | undefined {
    const rec = this.services.get(serviceKey);
    return rec && this.quorumRow(rec.s);
  }

  quorum(): QuorumStatus[] {
    return [...this.services.values()].map((rec) => this.quorumRow(rec.s));
  }

  counters(): { checks: number; failures: number; transitions: number } {
    return { ...this.count };
  }

  /** How the schedule keeps up: checks in flight and queued, and how late they started
   * (since the last call with reset). */
  scheduling(reset = false): SchedulingStatus {
    return this.scheduler.status(reset);
  }

  /** Clears every timer and aborts every check in flight; update() starts afresh. */
  stop(): void {
    for (const bySig of this.probes.values()) for (const p of bySig.values()) this.halt(p);
    this.scheduler.clear();
    this.pool?.close();
    this.tcp.close();
    this.probes.clear();
    this.services.clear();
    this.pending.clear();
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  private rows(rec: ServiceRecord): RealServerStatus[] {
    const rows: RealServerStatus[] = [];
    const key = serviceKey(rec.s);
    // A real server's key is needed only to find its entry or its own since, or to skip a
    // second listing: a service of unchecked servers, listed once each, costs no string.
    const keyed = rec.entries !== undefined || rec.laterSince !== undefined || rec.dups;
    const seen = rec.dups ? new Set<string>() : undefined;
    for (const r of rec.s.realServers ?? []) {
      const rk = keyed ? rsKey(rec.s, r) : undefined;
      if (seen) {
        if (seen.has(rk!)) continue;
        seen.add(rk!);
      }
      const e = rk === undefined ? undefined : rec.entries?.get(rk);
      if (!e) {
        const later = rk === undefined ? undefined : rec.laterSince?.get(rk);
        const since = later !== undefined ? new Date(later).toISOString() : (rec.sinceIso ??= new Date(rec.sinceMs).toISOString());
        rows.push({ service: key, address: r.address, port: rsPort(rec.s, r), state: 'unchecked', since, lastResult: null });
        continue;
      }
      const p = e.probe;
      const row: RealServerStatus = {
        service: e.service, address: p.address, port: p.port,
        state: p.loops.length === 0 ? 'unchecked' : p.up ? 'up' : 'down',
        since: new Date(p.sinceMs).toISOString(), lastResult: this.lastResult(p),
      };
      if (p.loops.some((l) => l.weight !== undefined || l.factor !== undefined)) row.weight = this.weight(p, e.rs);
      rows.push(row);
    }
    return rows;
  }

  private quorumRow(s: ServiceConfig): QuorumStatus {
    const key = serviceKey(s);
    const hasQuorum = this.quorumState.get(key)?.has ?? true;
    return { service: key, hasQuorum, sorryActive: !hasQuorum && s.sorryServer !== undefined };
  }

  private halt(p: Probe) {
    p.stopped = true;
    for (const loop of p.loops) {
      this.scheduler.cancel(loop);
      loop.cancel?.();
    }
  }

  /** One attempt, started by the scheduler when due and a slot is free; `done` frees the slot. */
  private run(loop: Loop, done: () => void) {
    const p = loop.probe;
    const c = loop.check;
    const started = performance.now();
    const finish = (result: CheckResult) => {
      loop.cancel = undefined;
      try {
        if (!p.stopped) this.record(loop, result, performance.now() - started);
      } finally {
        done();
      }
    };
    try {
      if (c.type === 'command' && !this.allowCommands)
        return finish({ ok: false, detail: 'command checks are not allowed here (only from the config file)' });
      const refused = c.type === 'command' ? undefined : this.egress?.refusal(c.address ?? p.address);
      if (refused !== undefined) return finish({ ok: false, detail: refused });
      if (c.type === 'tcp') {
        loop.cancel = this.tcp.run(c, p, finish);
        return;
      }
      let attempt: Promise<CheckResult>;
      if (this.pool) {
        const { result, cancel } = this.pool.run(c, { address: p.address, port: p.port });
        attempt = result;
        loop.cancel = cancel;
      } else {
        const ac = new AbortController();
        attempt = runCheck(c, p, { signal: ac.signal });
        loop.cancel = () => ac.abort();
      }
      attempt.then(finish, (err: Error) => finish({ ok: false, detail: `check failed: ${err.message}` }));
    } catch (err) {
      // A check that cannot even start (a thread that cannot be made) fails and keeps its schedule.
      finish({ ok: false, detail: `check failed: ${(err as Error).message}` });
    }
  }

  /** Applies one result: rise/fall, the next attempt's time, and what changed for the dataplane.
   * Costs the checks of this probe, and the real servers of the services using it only when its
   * state or a dynamic weight moved: nothing is allocated for a result that changes nothing. */
  private record(loop: Loop, result: CheckResult, durationMs: number) {
    const p = loop.probe;
    const c = loop.check;
    this.count.checks++;
    if (!result.ok) this.count.failures++;
    // Updated in place, keeping an equal detail string: 20,000 new records a second, each kept
    // an interval, would all be promoted to the old generation and collected there.
    const last = loop.last;
    if (last) {
      last.ok = result.ok;
      if (last.detail !== result.detail) last.detail = result.detail;
      last.atMs = Date.now();
      last.durationMs = Math.round(durationMs);
    } else {
      loop.last = { ok: result.ok, detail: result.detail, atMs: Date.now(), durationMs: Math.round(durationMs) };
    }
    // Only a dynamic command's or an agent's answer moves a weight.
    const reweighed = result.ok && (result.weight !== undefined || result.weightFactor !== undefined);
    const weightsBefore = reweighed ? [...p.users].map((e) => this.weight(p, e.rs)) : undefined;
    // The next attempt keeps the schedule: an interval after this one was due (a late start
    // does not push the rest later), or a retry delayBeforeRetry after this failure.
    const now = performance.now();
    let next = Math.max(now, loop.due + (c.interval ?? DEFAULTS.interval) * 1000);
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
          next = now + (c.delayBeforeRetry ?? DEFAULTS.delayBeforeRetry) * 1000;
        }
      }
    }
    this.scheduler.at(loop, next);

    let up = true;
    for (const l of p.loops) up &&= l.up;
    const stateChanged = up !== p.up;
    if (!stateChanged && !weightsBefore) return;
    const users = [...p.users];
    if (stateChanged) {
      p.up = up;
      p.sinceMs = loop.last!.atMs;
      this.count.transitions++;
      // One line per backend; sharedBy says how many services it took with it.
      const o = { service: users[0]?.service, address: p.address, port: p.port, detail: `${c.type}: ${result.detail}`, ...(users.length > 1 ? { sharedBy: users.length } : {}) };
      if (up) this.log?.info(o, 'real server up');
      else this.log?.warn(o, 'real server down');
    }
    users.forEach((e, i) => {
      const weightChanged = p.up && weightsBefore !== undefined && this.weight(p, e.rs) !== weightsBefore[i];
      // Quorum moves only with the live weight sum, which moves only with a state or weight.
      const rec = stateChanged || weightChanged ? this.services.get(e.service) : undefined;
      const quorumChanged = rec !== undefined && this.judgeQuorum(rec.s, this.liveSum(rec));
      if (stateChanged || weightChanged || quorumChanged) this.changed(e.service);
    });
  }

  /** Notes a service whose dataplane form changed; onChange hears of it once, after the window. */
  private changed(key: string) {
    this.pending.add(key);
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      const keys = [...this.pending];
      this.pending.clear();
      if (!keys.length) return;
      try {
        this.onChange(keys);
      } catch (err) {
        this.log?.warn({ err: (err as Error).message, services: keys.length }, 'the health change handler failed');
      }
    }, this.changeWindowMs);
    this.flushTimer.unref();
  }

  /** The last result worth showing: while down, the latest from a failing check. */
  private lastResult(p: Probe): LastResult | null {
    let best: Loop | undefined;
    for (const l of p.loops)
      if (l.last && (p.up || !l.up) && (!best || l.last.atMs >= best.last!.atMs)) best = l;
    if (!best) return null;
    const r = best.last!;
    return { ok: r.ok, detail: `${best.check.type}: ${r.detail}`, at: new Date(r.atMs).toISOString(), durationMs: r.durationMs };
  }

  /** The weight a live real server has: a dynamic command's, else the configured one, scaled by agents. */
  private weight(p: Probe | undefined, r: RealServerConfig): number {
    const loops = p?.loops ?? [];
    const base = loops.find((l) => l.weight !== undefined)?.weight ?? r.weight ?? 1;
    const factor = loops.reduce((f, l) => f * (l.factor ?? 1), 1);
    return Math.max(0, Math.round(base * factor));
  }

  /** Each real server of s with whether it is up (unmonitored ones are) and its live weight. */
  private assess(s: ServiceConfig) {
    const entries = this.services.get(serviceKey(s))?.entries;
    return (s.realServers ?? []).map((r) => {
      const p = entries?.get(rsKey(s, r))?.probe;
      return { r, up: p?.up ?? true, weight: this.weight(p, r) };
    });
  }

  /** The weights of the live real servers of a service as last updated. */
  private liveSum(rec: ServiceRecord): number {
    let sum = rec.uncheckedWeight;
    if (rec.entries) for (const e of rec.entries.values()) if (e.probe.up) sum += this.weight(e.probe, e.rs);
    return sum;
  }

  /** keepalived's quorum rule on the live weight sum; returns whether the service's quorum state changed. */
  private judgeQuorum(s: ServiceConfig, sum: number): boolean {
    const key = serviceKey(s);
    let q = this.quorumState.get(key);
    if (!q) this.quorumState.set(key, (q = { has: true, held: false, lossLogged: false }));
    const had = q.has;
    const quorum = s.quorum ?? 1;
    const hysteresis = s.hysteresis ?? 0;
    const threshold = had ? quorum - hysteresis : quorum + hysteresis;
    const has = had ? !(sum === 0 || sum < threshold) : sum >= threshold;
    q.has = has;
    // A service with no real servers (ipvsadm -A, or the operator removed them) has nothing to
    // lose: it starts without quorum and gains it with its first servers, without a word.
    const servers = (s.realServers?.length ?? 0) > 0;
    const news = has !== had;
    const o = () => ({ service: key, weightSum: sum, threshold, sorryServer: s.sorryServer ? `${s.sorryServer.address}:${s.sorryServer.port ?? s.port ?? 0}` : null });
    if (news && !has && q.held && servers) {
      this.log?.warn(o(), 'service lost quorum');
      q.lossLogged = true;
    } else if (news && has && q.lossLogged) {
      this.log?.info(o(), 'service regained quorum');
      q.lossLogged = false;
    }
    q.held = servers && (q.held || (has && sum > 0));
    return news;
  }


  /** The service as the dataplane should have it now; evaluates (and may change) its quorum. */
  effectiveService(s: ServiceConfig): ServiceConfig {
    const assessed = this.assess(s);
    this.judgeQuorum(s, assessed.reduce((acc, x) => acc + (x.up ? x.weight : 0), 0));
    const sorry = (this.quorumState.get(serviceKey(s))?.has ?? true) ? undefined : s.sorryServer;
    const realServers: RealServerConfig[] = [];
    // A real server running as configured is the configured object itself, and a service whose
    // servers all are is the service itself: nothing new per server for the dataplane builder to
    // hold (the usual case, and all of a restore's).
    let same = !sorry;
    for (const { r, up, weight } of assessed) {
      // With quorum lost, the sorry server takes the live servers' place (keepalived removes
      // them); failed ones kept at weight 0 stay as they are.
      let out: RealServerConfig | undefined;
      if (up && !sorry) out = r.weight === weight ? r : { ...r, weight };
      else if (!up && s.inhibitOnFailure) out = r.weight === 0 ? r : { ...r, weight: 0 };
      if (out !== r) same = false;
      if (out) realServers.push(out);
    }
    if (sorry) {
      const port = sorry.port ?? s.port;
      const stand: RealServerConfig = { address: sorry.address, ...(port !== undefined ? { port } : {}), method: sorry.method ?? 'nat', weight: 1 };
      // The dataplane takes each address:port once: the sorry server replaces its own failed entry.
      const kept = realServers.filter((r) => rsKey(s, r) !== rsKey(s, stand));
      return { ...s, realServers: [...kept, stand] };
    }
    return s.realServers === undefined || same ? s : { ...s, realServers };
  }
}
