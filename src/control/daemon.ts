// The running director as the API and the signals see it: the desired state (persisted), the
// health monitor that derives the effective config from it, the dataplane that runs the
// effective config, rate estimation, and zeroed counters. Every path into the dataplane goes
// through apply(), one at a time, so a health change and an operator's change never race.
import type { ConnEntry, ConnFilter, NativeAddon, TrafficCounters } from '../native';
import { loadConfigFile } from './config_load';
import type { FulcrumConfig, RealServerConfig, ServiceConfig } from './config_schema';
import { Director, type ServiceView } from './director';
import { HealthMonitor } from './health/monitor';
import { serviceKey } from './native_config';
import { RateEstimator, type Rates } from './rates';
import { DesiredState, DYNAMIC_KEYS } from './state';

export interface Logger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

/** `tcp:10.0.0.100:80`, `udp:…`, `sctp:…` or `fwmark:5`: how the API names a service. */
export function serviceId(s: Pick<ServiceConfig, 'protocol' | 'address' | 'port' | 'fwmark'>): string {
  return s.fwmark !== undefined ? `fwmark:${s.fwmark}` : `${s.protocol}:${s.address}:${s.port}`;
}
/** `172.16.0.11:8080`: how the API names a real server within its service. */
export function serverId(s: ServiceConfig, r: RealServerConfig): string {
  return `${r.address}:${r.port ?? s.port ?? 0}`;
}

const ZERO: TrafficCounters = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const minus = (a: TrafficCounters, b: TrafficCounters | undefined): TrafficCounters => (b ? {
  conns: a.conns - b.conns, inpkts: a.inpkts - b.inpkts, outpkts: a.outpkts - b.outpkts,
  inbytes: a.inbytes - b.inbytes, outbytes: a.outbytes - b.outbytes,
} : a);

export interface LiveService {
  id: string;
  config: ServiceConfig;
  stats: TrafficCounters;
  rates: Rates;
  servers: Array<{
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
  }>;
}

export class Daemon {
  readonly director: Director;
  readonly state: DesiredState;
  readonly health: HealthMonitor;
  readonly rates = new RateEstimator();
  readonly restored: boolean;
  private applying: Promise<unknown> = Promise.resolve();
  private readonly baselines = new Map<string, TrafficCounters>();
  private rateTimer?: NodeJS.Timeout;

  constructor(readonly addon: NativeAddon, fileCfg: FulcrumConfig, readonly configFile: string,
    stateDir: string, readonly log: Logger) {
    const { state, restored } = DesiredState.open(fileCfg, stateDir);
    this.state = state;
    this.restored = restored;
    this.health = new HealthMonitor({ log, onChange: () => { void this.reapply(); }, allowCommands: true });
    const desired = state.current;
    this.director = new Director(addon, this.health.effective(desired));
    this.health.update(desired);
    this.rateTimer = setInterval(() => { void this.sampleRates(); }, 2000);
    this.rateTimer.unref();
  }

  /** Puts a config into the dataplane, after whatever is being applied now. */
  private apply(effective: FulcrumConfig): Promise<void> {
    const run = () => this.director.apply(effective);
    const p = this.applying.then(run, run);
    this.applying = p.catch(() => undefined);
    return p;
  }

  /** Health changed: the desired state is the same, its effective form is not. */
  private async reapply(): Promise<void> {
    try {
      await this.apply(this.health.effective(this.state.current));
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'applying a health change failed');
    }
  }

  /** An operator's change (API, CLI, reload): validated, applied, persisted, then acknowledged. */
  change<T>(edit: (draft: FulcrumConfig) => T): Promise<T> {
    return this.state.change(edit, async (next) => {
      await this.apply(this.health.effective(next));
      this.health.update(next);
    });
  }

  /** SIGHUP or POST /v1/config/reload: the file's services replace the running ones. */
  async reload(): Promise<void> {
    const file = loadConfigFile(this.configFile);
    await this.change((draft) => {
      for (const k of DYNAMIC_KEYS) {
        if (file[k] === undefined) delete draft[k];
        else (draft as Record<string, unknown>)[k] = file[k];
      }
    });
  }

  private async sampleRates(): Promise<void> {
    try {
      const views = await this.director.services();
      for (const v of views) {
        this.rates.sample(`s ${this.keyOf(v)}`, v.stats);
        for (const d of v.dests) this.rates.sample(`d ${this.keyOf(v)} ${d.address}:${d.port}`, d.stats);
      }
      this.rates.sample('total', (await this.director.stats()).total);
    } catch {
      // the dataplane stopped: nothing to sample
    }
  }

  private keyOf(v: ServiceView): string {
    return v.protocol === 'fwmark' ? `fwmark:${v.fwmark}` : `${v.protocol}:${v.address}:${v.port}`;
  }

  /** ipvsadm -Z [service]: counters restart from zero, rates too; all, or one service's
   * (its real servers' with it; the totals only when all are zeroed, as the kernel does). */
  async zero(service?: string): Promise<void> {
    const views = await this.director.services();
    for (const v of views) {
      const k = this.keyOf(v);
      if (service !== undefined && k !== service) continue;
      this.baselines.set(`s ${k}`, v.stats);
      this.rates.reset(`s ${k}`);
      for (const d of v.dests) {
        this.baselines.set(`d ${k} ${d.address}:${d.port}`, d.stats);
        this.rates.reset(`d ${k} ${d.address}:${d.port}`);
      }
    }
    if (service !== undefined) return;
    this.baselines.set('total', (await this.director.stats()).total);
    this.rates.reset('total');
  }

  /** The desired services joined with what the dataplane does for them. */
  async services(): Promise<LiveService[]> {
    const desired = this.state.current.services ?? [];
    const views = new Map((await this.director.services()).map((v) => [this.keyOf(v), v]));
    const health = new Map(this.health.status().map((h) => [`${h.service} ${h.address}:${h.port}`, h.state]));
    return desired.map((s) => {
      const id = serviceId(s);
      const v = views.get(id);
      const live = new Map((v?.dests ?? []).map((d) => [`${d.address}:${d.port}`, d]));
      return {
        id,
        config: s,
        stats: minus(v?.stats ?? ZERO, this.baselines.get(`s ${id}`)),
        rates: this.rates.rates(`s ${id}`),
        servers: (s.realServers ?? []).map((r) => {
          const rid = serverId(s, r);
          const d = live.get(rid);
          return {
            id: rid,
            config: r,
            inDataplane: d !== undefined,
            effectiveWeight: d?.weight ?? 0,
            health: health.get(`${serviceKey(s)} ${rid}`) ?? 'unchecked',
            activeConns: d?.activeConns ?? 0,
            inactConns: d?.inactConns ?? 0,
            persistConns: d?.persistConns ?? 0,
            stats: minus(d?.stats ?? ZERO, this.baselines.get(`d ${id} ${rid}`)),
            rates: this.rates.rates(`d ${id} ${rid}`),
          };
        }),
      };
    });
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
    const port = server.port ?? service.port ?? 0;
    const before = await this.director.connections({ serverAddress: server.address, serverPort: port });
    const id = this.director.destId(service, server);
    if (id === undefined) return 0;
    await this.addon.flush(id);
    return before.length;
  }

  stop(): void {
    if (this.rateTimer) clearInterval(this.rateTimer);
    this.health.stop();
    this.director.stop();
  }
}
