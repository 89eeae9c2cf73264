// The running director as the API and the signals see it: the desired state (persisted), the
// health monitor that derives what the dataplane should run from it, the dataplane itself,
// rate estimation and zeroed counters. ONE writer: every path that changes the dataplane — an
// operator's change (API, fvsadm, reload) and a health verdict — is a task on one queue, and
// each task computes what it applies (health included) when it runs, so nothing computed
// earlier can land later and undo a newer change. An operator's change goes
// check → (apply and persist, at once) → commit → acknowledge; whichever of the two fails,
// the other is undone and the error answered, so acknowledged means live and durable and
// refused means absent (apply_durably.ts).
import path from 'node:path';
import type { ConnEntry, ConnFilter, DataplaneStats, NativeAddon, SaveReport, TrafficCounters } from '../native';
import { loadConfigFile } from './config_load';
import type { FulcrumConfig, RealServerConfig, ServiceConfig } from './config_schema';
import { Director, viewOf, type ServiceView } from './director';
import { splitFileOnly, withFileOnly, type FileOnlyOverlay } from './file_only';
import { EgressGuard } from './health/egress';
import { HealthMonitor } from './health/monitor';
import { idOfKey, keyOfId, serverId, serviceId, serviceKey } from './identity';
import { RateEstimator, type Rates } from './rates';
import { RateSampler } from './rate_sampler';
import { applyDurably } from './apply_durably';
import { breathe } from './slices';
import { ShardedMap } from './sharded_map';
import { DesiredState, type DynamicPart, type Draft } from './state';
import { limitsOf } from './dataplane_options';
import { SyncDaemons, type SyncDaemonView } from '../ha/sync_daemons';
import type { SyncTunables } from '../ha/sync_config';
import type { SyncDaemonConfig } from './config_schema';
import { hostPort } from './address';

export interface Logger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

/** In the state directory: the connections a graceful stop saved for the next start. */
export const CONNECTIONS_FILE = 'connections.bin';

const ZERO: TrafficCounters = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const minus = (a: TrafficCounters, b: TrafficCounters | undefined): TrafficCounters => (b ? {
  conns: a.conns - b.conns, inpkts: a.inpkts - b.inpkts, outpkts: a.outpkts - b.outpkts,
  inbytes: a.inbytes - b.inbytes, outbytes: a.outbytes - b.outbytes,
} : a);

export interface LiveServer {
  id: string;
  config: RealServerConfig;
  /** What the dataplane has now: the health monitor may have removed it or changed its weight. */
  inDataplane: boolean;
  effectiveWeight: number;
  health: string;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  stats: TrafficCounters;
  rates: Rates;
}

export interface LiveService {
  id: string;
  config: ServiceConfig;
  stats: TrafficCounters;
  rates: Rates;
  servers: LiveServer[];
}

/** The dynamic sections of a config file, as the desired state starts from them. */
function dynamicOf(cfg: FulcrumConfig, services: ServiceConfig[]): DynamicPart {
  const out: DynamicPart = {};
  if (services.length) out.services = services;
  if (cfg.matchRules) out.matchRules = cfg.matchRules;
  if (cfg.timeouts) out.timeouts = cfg.timeouts;
  if (cfg.tunnelSource !== undefined) out.tunnelSource = cfg.tunnelSource;
  if (cfg.tunnelSource6 !== undefined) out.tunnelSource6 = cfg.tunnelSource6;
  return out;
}

export class Daemon {
  readonly director: Director;
  readonly state: DesiredState;
  readonly health: HealthMonitor;
  readonly rates: RateEstimator;
  /** Which estimator samples which counters, kept as the running services change. */
  private readonly sampler: RateSampler;
  readonly restored: boolean;
  /** The connection sync daemons (the kernel's --start-daemon), kept in the state directory. */
  private readonly sync: SyncDaemons;
  /** The config file's command checks (file_only.ts): joined to the state, never stored in it. */
  private overlay: FileOnlyOverlay;
  /** The one writer: every task that changes the dataplane runs here, one at a time. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Services whose health verdict changed since the last health task ran. */
  private readonly healthPending = new Set<string>();
  private readonly baselines = new ShardedMap<TrafficCounters>();  // -Z's, a key a real server
  /** The last counters the rate sampler read (write responses show these, not a fresh read). */
  private lastStats?: DataplaneStats;
  private rateTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(readonly addon: NativeAddon, fileCfg: FulcrumConfig, readonly configFile: string,
    stateDir: string, readonly log: Logger) {
    const { services, overlay } = splitFileOnly(fileCfg.services ?? []);
    this.overlay = overlay;
    const limits = limitsOf(fileCfg);
    this.rates = new RateEstimator(1 + limits.maxServices + limits.maxDests);
    this.sampler = new RateSampler(this.rates);
    const { state, restored } = DesiredState.open(fileCfg, dynamicOf(fileCfg, services), stateDir,
      (e) => log.error({ err: e.message }, 'writing a new state base failed; the journal keeps every change'));
    this.state = state;
    this.restored = restored;
    const hc = fileCfg.healthChecking;
    // Checks leave only through the ports' kernel interfaces (or stay on loopback).
    const taps = new Set(fileCfg.dataplane.ports.filter((p) => p.tap !== false).map((p) => (p.tap as string | undefined) ?? p.name));
    this.health = new HealthMonitor({ log, onChange: (keys) => this.healthChanged(keys), allowCommands: true,
      egress: new EgressGuard(taps),
      ...(hc?.maxInFlight !== undefined ? { maxInFlight: hc.maxInFlight } : {}),
      ...(hc?.checkThreads !== undefined ? { checkThreads: hc.checkThreads } : {}) });
    try {
      const merged = [...state.services()].map((s) => withFileOnly(s, this.overlay));
      this.health.updateServices(merged, []);
      this.director = new Director(addon, { ...state.config(), services: merged.map((s) => this.health.effectiveService(s)) },
        fileCfg.dataplane.keepConnections === false ? undefined : path.join(stateDir, CONNECTIONS_FILE));
    } catch (e) {
      this.health.stop();
      state.close();
      throw e;
    }
    try {
      this.sync = SyncDaemons.open(addon, stateDir, fileCfg);
      this.sync.startAll();
    } catch (e) {
      this.health.stop();
      this.director.stop();
      state.close();
      throw e;
    }
    this.rateTimer = setInterval(() => { void this.sampleRates(); }, 2000);
    this.rateTimer.unref();
  }

  /** Runs a task after every task queued before it (the one writer). */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const p = this.tail.then(task, task);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** A service as the dataplane should run it now: the file's command checks joined, health applied. */
  private effective(s: ServiceConfig, overlay = this.overlay): ServiceConfig {
    return this.health.effectiveService(withFileOnly(s, overlay));
  }

  /** An operator's change (API, CLI, reload): `edit` works on a draft; the change is checked,
   * applied, persisted and committed before the promise resolves. A refused change changes
   * nothing anywhere. `overlay` replaces the file's command checks with it (reload). */
  change<T>(edit: (draft: Draft) => T | Promise<T>, overlay?: FileOnlyOverlay): Promise<T> {
    return this.serial(async () => {
      if (this.stopped) throw new Error('the director is stopping');
      const draft = this.state.draft();
      const result = await edit(draft);
      const c = await this.state.check(draft);
      const ov = overlay ?? this.overlay;
      const merged = c.put.map((s) => withFileOnly(s, ov));
      // A restore's 10,000 services at once held the event loop for tens of ms: in slices.
      const put: ServiceConfig[] = [];
      const slice = { start: performance.now() };
      for (const s of merged) {
        await breathe(slice);
        put.push(this.health.effectiveService(s));
      }
      await applyDurably({
        apply: () => this.director.apply({
          put, del: c.del,
          timeouts: c.timeouts, matchRules: c.matchRules, tunnelSource: c.tunnelSource, tunnelSource6: c.tunnelSource6,
        }),
        persist: () => this.state.persist(c),
        retract: (seq) => this.state.retract(seq),
        stranded: (side, err) => this.log.error({ err: err.message }, side === 'dataplane'
          ? 'the dataplane could not be put back after a failed persist; it runs a change that is not durable'
          : 'the journal could not take back a change the dataplane refused; the next change cuts it, a restart before then would apply it'),
      });
      this.state.commit(c);
      if (overlay) this.overlay = overlay;
      const kept = c.del.length ? new Set(c.putIds) : undefined;
      const gone = c.del.filter((id) => !kept!.has(id)).map(keyOfId);
      // The health monitor takes a restore's services in slices too: the first 100 with the
      // services that go (a probe moving from one to another keeps running), then 20 at a
      // time, yielding every 5 ms (100 a call, on a loaded VM, was 6-14 ms).
      slice.start = performance.now();
      for (let i = 0; i < Math.max(merged.length, 1); i = i ? i + 20 : 100) {
        if (i) await breathe(slice);
        this.health.updateServices(merged.slice(i, i ? i + 20 : 100), i ? [] : gone);
      }
      return result;
    });
  }

  /** Health changed what some services should run: re-derive just those, in the queue. */
  private healthChanged(keys: string[]): void {
    const first = this.healthPending.size === 0;
    for (const k of keys) this.healthPending.add(k);
    if (!first) return;  // a task is already queued and will take these too
    void this.serial(async () => {
      const keysNow = [...this.healthPending];
      this.healthPending.clear();
      if (this.stopped) return;
      const put: ServiceConfig[] = [];
      for (const k of keysNow) {
        const s = this.state.service(idOfKey(k));
        if (s) put.push(this.effective(s));
      }
      if (put.length) await this.director.apply({ put, del: [] });
    }).catch((e: Error) => this.log.error({ err: e.message }, 'applying a health change failed'));
  }

  /** SIGHUP or POST /v1/config/reload: the file's services, match rules, timeouts and tunnel
   * source replace the running ones as one change (the file is applied when asked; between
   * reloads the state directory holds the truth, API changes included). Returns the config
   * running before and the file as read, for the caller's diff. */
  async reload(): Promise<{ before: FulcrumConfig; file: FulcrumConfig }> {
    const file = loadConfigFile(this.configFile);
    const { services, overlay } = splitFileOnly(file.services ?? []);
    const before = this.state.config();
    await this.change((d) => d.replaceAll({ ...file, services }), overlay);
    await this.serial(async () => this.sync.replace(file));
    return { before, file };
  }

  /** One rate tick now. serve runs it before the API answers: the first read of the counters
   * sizes their buffers (7 MB at 10,000 services' limits), 20-25 ms of page faults that would
   * otherwise stall the event loop while the first restore runs. */
  sampleNow(): Promise<void> { return this.sampleRates(); }

  /** Every 2 s: the kernel estimator's tick for the totals, every service and real server,
   * in slices (60,000 real servers at once held the event loop for tens of ms). */
  private async sampleRates(): Promise<void> {
    let stats: DataplaneStats;
    try {
      stats = await this.director.stats();
    } catch (e) {
      if (!this.addon.running()) return;  // stopped: nothing to sample
      this.log.error({ err: (e as Error).message }, 'reading counters for the rate estimator failed');
      return;
    }
    this.lastStats = stats;
    this.rates.sample('total', stats.total);
    await this.sampler.sample(this.director.runningById(), stats.serviceCounters, stats.destCounters);
  }

  /** ipvsadm -Z [service]: counters restart from zero, rates too; all, or one service's
   * (its real servers' with it; the totals only when all are zeroed, as the kernel does). */
  async zero(service?: string): Promise<void> {
    const views = await this.director.services();
    for (const v of views) {
      const k = v.id;
      if (service !== undefined && k !== service) continue;
      this.baselines.set(`s ${k}`, v.stats);
      this.rates.reset(`s ${k}`);
      for (const d of v.dests) {
        this.baselines.set(`d ${k} ${hostPort(d.address, d.port)}`, d.stats);
        this.rates.reset(`d ${k} ${hostPort(d.address, d.port)}`);
      }
    }
    if (service !== undefined) return;
    this.baselines.set('total', (await this.director.stats()).total);
    this.rates.reset('total');
  }

  /** The desired services joined with what the dataplane does for them (all, or the ones
   * named), with counters read now, or (fresh: false) from the rate sampler's last reading. */
  async services(opts: { ids?: string[]; fresh?: boolean } = {}): Promise<LiveService[]> {
    const stats = opts.fresh === false ? this.lastStats : undefined;
    const views = new Map((await this.director.services(opts.ids, stats)).map((v) => [v.id, v]));
    const list = opts.ids ? opts.ids.map((id) => this.state.service(id)).filter((s): s is ServiceConfig => s !== undefined) : [...this.state.services()];
    return list.map((s) => this.live(s, views.get(serviceId(s))));
  }

  /**
   * Every service as services() shows it, as one table taken now (the desired state, what
   * runs and the counters, each as of this call), made one service at a time as the caller
   * reads: at 10,000 services × 10 real servers the whole list at once held the event loop
   * for 1-2 s, health checks included, so a caller writes it out in slices.
   */
  async table(): Promise<{ count: number; services: Iterable<LiveService> }> {
    const list = [...this.state.services()];
    const running = this.director.snapshot();
    const stats = await this.director.stats();
    const self = this;
    return {
      count: list.length,
      services: (function* () {
        for (const s of list) {
          const id = serviceId(s);
          const r = running.get(id);
          yield self.live(s, r && viewOf(id, r, stats));
        }
      })(),
    };
  }

  /** One service's config joined with its view (undefined: not running) and health. */
  private live(s: ServiceConfig, v: ServiceView | undefined): LiveService {
    const shown = withFileOnly(s, this.overlay);
    const id = serviceId(s);
    const key = serviceKey(s);
    const healthOf = new Map<string, string>();
    for (const h of this.health.statusOf(key)) healthOf.set(hostPort(h.address, h.port), h.state);
    const live = new Map((v?.dests ?? []).map((d) => [hostPort(d.address, d.port), d]));
    return {
      id,
      config: shown,
      stats: minus(v?.stats ?? ZERO, this.baselines.get(`s ${id}`)),
      rates: this.rates.rates(`s ${id}`),
      servers: (shown.realServers ?? []).map((r) => {
        const rid = serverId(s, r);
        const d = live.get(rid);
        return {
          id: rid,
          config: r,
          inDataplane: d !== undefined,
          effectiveWeight: d?.weight ?? 0,
          health: healthOf.get(rid) ?? 'unchecked',
          activeConns: d?.activeConns ?? 0,
          inactConns: d?.inactConns ?? 0,
          persistConns: d?.persistConns ?? 0,
          stats: minus(d?.stats ?? ZERO, this.baselines.get(`d ${id} ${rid}`)),
          rates: this.rates.rates(`d ${id} ${rid}`),
        };
      }),
    };
  }

  async totals(): Promise<{ stats: TrafficCounters; rates: Rates }> {
    const st = await this.director.stats();
    return { stats: minus(st.total, this.baselines.get('total')), rates: this.rates.rates('total') };
  }

  connections(filter: ConnFilter, limit: number): Promise<ConnEntry[]> {
    return this.director.connections(filter, limit);
  }

  /** Drops the connections of one real server (by the native id the dataplane knows it by). */
  async flushServer(service: ServiceConfig, server: RealServerConfig): Promise<number> {
    const rid = serverId(service, server);
    const [address, port] = [server.address, Number(rid.slice(rid.lastIndexOf(':') + 1))];
    const id = this.director.destId(serviceId(service), rid);
    if (id === undefined) return 0;
    const before = await this.director.countConnections({ serverAddress: address, serverPort: port });
    await this.addon.flush(id);
    return before;
  }

  /** Why the director cannot balance now (GET /readyz), or undefined when it can. A Daemon
   * exists only once its dataplane has started with the desired state, and every change after
   * is applied before it is acknowledged, so what remains is whether it still runs. */
  notReady(): string | undefined {
    if (this.stopped) return 'the director is stopping';
    if (!this.addon.running()) return 'the dataplane is not running';
    return undefined;
  }

  /** `--start-daemon`: live and durable when it resolves (ChangeRefused 400/409 otherwise). */
  startSyncDaemon(d: SyncDaemonConfig): Promise<void> {
    return this.serial(async () => {
      if (this.stopped) throw new Error('the director is stopping');
      this.sync.start(d);
      this.log.info({ state: d.state, interface: d.interface, syncId: d.syncId ?? 0 }, 'sync daemon started');
    });
  }

  /** `--stop-daemon` (ChangeRefused 404 when none runs in that state). */
  stopSyncDaemon(state: 'master' | 'backup'): Promise<void> {
    return this.serial(async () => {
      if (this.stopped) throw new Error('the director is stopping');
      this.sync.stop(state);
      this.log.info({ state }, 'sync daemon stopped');
    });
  }

  /** The running sync daemons, master first, with their counters. */
  syncDaemons(): SyncDaemonView[] { return this.sync.list(); }
  syncTunables(): SyncTunables { return this.sync.tunables; }

  /** What the stop saved for the next start (null: keepConnections off, or not stopped yet). */
  lastSave: SaveReport | null = null;

  /** Stops after the change in progress; the state directory is released. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.rateTimer) clearInterval(this.rateTimer);
    this.health.stop();
    await this.tail;
    await this.state.settled();
    this.sync.stopAll();
    this.lastSave = this.director.stop() ?? this.lastSave;
    this.state.close();
  }
}
