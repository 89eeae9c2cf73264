// The dataplane as the control side drives it: what it runs now (per service, with native
// ids), changes to it as deltas (the services a change touched, nothing else), the way back
// from a delta whose persist failed, and reads that join the dataplane's numbers back to the
// services' names.
import type { ConnEntry, ConnFilter, DataplaneStats, NativeAddon, SaveReport, StartInfo, TrafficCounters } from '../native';
import type { FulcrumConfig, MatchRuleConfig, ServiceConfig } from './config_schema';
import { dataplaneOptions, limitsOf } from './dataplane_options';
import { serviceId } from './identity';
import { breathe } from './slices';
import { NativeIds, nativeRules, nativeService, nativeTimeouts, type NativeCoreConfig, type NativeIdsUndo,
  type NativeMatchRule, type NativeService, type NativeTimeouts } from './native_config';
import { hostPort } from './address';

export interface ServiceView {
  id: string;
  protocol: string;
  address: string;
  port: number;
  fwmark: number;
  scheduler: string;
  persistent: boolean;
  stats: TrafficCounters;
  dests: { address: string; port: number; method: string; weight: number; activeConns: number; inactConns: number;
    persistConns: number; stats: TrafficCounters }[];
}

/** One change for the dataplane: services (as it should run them, health applied) added or
 * replaced whole, services removed (before the puts), and the table-wide settings when they
 * change. */
export interface DataplaneDelta {
  put: ServiceConfig[];
  del: string[];
  timeouts?: FulcrumConfig['timeouts'];
  matchRules?: MatchRuleConfig[];
  /** null: removed. */
  tunnelSource?: string | null;
  tunnelSource6?: string | null;
}

/** Puts the dataplane back as it was before a delta (its persist failed). */
export type Revert = () => Promise<void>;

const ZERO: TrafficCounters = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };

/** A running service with its real servers' counters from `st` (read by native id). */
export function viewOf(id: string, s: NativeService, st: DataplaneStats): ServiceView {
  const sv = st.serviceCounters;
  const dv = st.destCounters;
  const o = s.id * 5;
  return {
    id,
    protocol: s.protocol || 'fwmark',
    address: s.address,
    port: s.port,
    fwmark: s.fwmark,
    scheduler: s.scheduler,
    persistent: (s.flags & 1) !== 0,
    stats: o + 5 <= sv.length ? { conns: sv[o], inpkts: sv[o + 1], outpkts: sv[o + 2], inbytes: sv[o + 3], outbytes: sv[o + 4] } : ZERO,
    dests: [...s.dests].reverse().map((d) => {
      const p = d.id * 8;
      const have = p + 8 <= dv.length;
      return { address: d.address, port: d.port, method: d.method, weight: d.weight,
        activeConns: have ? dv[p + 5] : 0, inactConns: have ? dv[p + 6] : 0, persistConns: have ? dv[p + 7] : 0,
        stats: have ? { conns: dv[p], inpkts: dv[p + 1], outpkts: dv[p + 2], inbytes: dv[p + 3], outbytes: dv[p + 4] } : ZERO };
    }),
  };
}


export class Director {
  private readonly ids: NativeIds;
  /** What the dataplane runs, by service id, in the order services were added: the native form
   * only (it names each real server and holds its id; a config object beside it per real server
   * was as many objects again for the garbage collector). */
  private readonly running_ = new Map<string, NativeService>();
  private rules: NativeMatchRule[];
  private timeouts: NativeTimeouts;
  private tunnelSource: string;
  private tunnelSource6: string;
  private readonly sloppyTcp: boolean;
  readonly startInfo: StartInfo;

  /** Starts the dataplane with `cfg` (static sections, and services as they should run). */
  constructor(private readonly addon: NativeAddon, cfg: FulcrumConfig, connectionsFile?: string) {
    this.ids = new NativeIds(limitsOf(cfg));
    for (const s of cfg.services ?? []) this.running_.set(serviceId(s), nativeService(s, this.ids));
    this.rules = nativeRules(cfg);
    this.timeouts = nativeTimeouts(cfg.timeouts);
    this.tunnelSource = cfg.tunnelSource ?? '0.0.0.0';
    this.tunnelSource6 = cfg.tunnelSource6 ?? '::';
    this.sloppyTcp = cfg.ha?.sloppyTcp ?? false;
    this.startInfo = addon.start({ ...dataplaneOptions(cfg), ...(connectionsFile ? { connectionsFile } : {}) }, this.core());
  }

  private core(): NativeCoreConfig {
    return { services: [...this.running_.values()], rules: this.rules, timeouts: this.timeouts,
      tunnelSource: this.tunnelSource, tunnelSource6: this.tunnelSource6, mtu: 1500, ...(this.sloppyTcp ? { sloppyTcp: true } : {}) };
  }

  /** Applies a delta; resolves once every worker runs it, with the way back. A delta the
   * dataplane refuses changes nothing (native ids included) and rejects with its problems. */
  async apply(d: DataplaneDelta): Promise<Revert> {
    const log = this.ids.begin();
    const before = new Map<string, NativeService | undefined>();
    const remember = (id: string) => { if (!before.has(id)) before.set(id, this.running_.get(id)); };
    const removed: number[] = [];
    const upserts: NativeService[] = [];
    const saved = { rules: this.rules, timeouts: this.timeouts, tunnelSource: this.tunnelSource, tunnelSource6: this.tunnelSource6 };
    try {
      for (const id of d.del) {
        const cur = this.running_.get(id);
        if (!cur) continue;
        remember(id);
        this.ids.releaseGone(id, cur, undefined, log);
        this.running_.delete(id);
        removed.push(cur.id);
      }
      const slice = { start: performance.now() };
      for (const s of d.put) {
        await breathe(slice);
        const id = serviceId(s);
        remember(id);
        const cur = this.running_.get(id);
        if (cur) this.ids.releaseGone(id, cur, s, log);
        const native = nativeService(s, this.ids, log, cur);
        this.running_.set(id, native);
        upserts.push(native);
      }
      if (d.matchRules) this.rules = nativeRules({ matchRules: d.matchRules });
      if (d.timeouts) this.timeouts = nativeTimeouts(d.timeouts);
      if (d.tunnelSource !== undefined) this.tunnelSource = d.tunnelSource ?? '0.0.0.0';
      if (d.tunnelSource6 !== undefined) this.tunnelSource6 = d.tunnelSource6 ?? '::';
      await this.publish(upserts, removed, d);
    } catch (e) {
      this.restore(before, log, saved);
      throw e;
    }
    return async () => {
      // The services it touched as they were, with the very ids they had.
      const back: NativeService[] = [];
      const gone: number[] = [];
      for (const [id, was] of before) {
        const now = this.running_.get(id);
        if (now && (!was || now.id !== was.id)) gone.push(now.id);
        if (was) back.push(was);
      }
      this.restore(before, log, saved);
      await this.publish(back, gone, d);
    };
  }

  private restore(before: Map<string, NativeService | undefined>, log: NativeIdsUndo,
    saved: { rules: NativeMatchRule[]; timeouts: NativeTimeouts; tunnelSource: string; tunnelSource6: string }): void {
    this.ids.undo(log);
    for (const [id, was] of before) {
      if (was) this.running_.set(id, was);
      else this.running_.delete(id);
    }
    this.rules = saved.rules;
    this.timeouts = saved.timeouts;
    this.tunnelSource = saved.tunnelSource;
    this.tunnelSource6 = saved.tunnelSource6;
  }

  /** A whole config's services, rules, timeouts and tunnel source become the running ones
   * (tests and tools; the daemon sends deltas). */
  async applyConfig(cfg: FulcrumConfig): Promise<void> {
    const put = cfg.services ?? [];
    const keep = new Set(put.map(serviceId));
    await this.apply({ put, del: [...this.running_.keys()].filter((id) => !keep.has(id)),
      timeouts: cfg.timeouts ?? {}, matchRules: cfg.matchRules ?? [], tunnelSource: cfg.tunnelSource ?? null,
      tunnelSource6: cfg.tunnelSource6 ?? null });
  }

  /** Sends the services given and, for each table-wide setting `d` changes, its value now. */
  private async publish(upsert: NativeService[], remove: number[], d: Pick<DataplaneDelta, 'matchRules' | 'timeouts' | 'tunnelSource' | 'tunnelSource6'>): Promise<void> {
    // A large change crosses to the addon in parts, the event loop breathing between them;
    // the last call publishes them all as one snapshot.
    const PART = 250;
    const slice = { start: performance.now() };
    let from = 0;
    try {
      for (; upsert.length - from > PART; from += PART) {
        await breathe(slice);
        this.addon.stageDelta({ upsert: upsert.slice(from, from + PART) });
      }
    } catch (e) {
      this.addon.dropStaged();
      throw e;
    }
    await this.addon.applyDelta({
      upsert: from ? upsert.slice(from) : upsert, remove,
      ...(d.matchRules ? { rules: this.rules } : {}),
      ...(d.timeouts ? { timeouts: this.timeouts } : {}),
      ...(d.tunnelSource !== undefined ? { tunnelSource: this.tunnelSource } : {}),
      ...(d.tunnelSource6 !== undefined ? { tunnelSource6: this.tunnelSource6 } : {}),
    });
  }

  /** Services with their real servers and counters (all, in the order added, or the ones
   * named), from `stats` when given (a recent sample), else read now. */
  async services(only?: string[], stats?: DataplaneStats): Promise<ServiceView[]> {
    const st: DataplaneStats = stats ?? await this.addon.stats();
    const picked = only ? only.flatMap((id) => { const r = this.running_.get(id); return r ? [[id, r] as const] : []; }) : [...this.running_];
    return picked.map(([id, s]) => viewOf(id, s, st));
  }

  /** What runs now, by service id, as of this call (a listing read in slices stays one table). */
  snapshot(): Map<string, NativeService> { return new Map(this.running_); }

  /** The services as the dataplane runs them, in the order added (each object kept while its
   * service is unchanged). */
  *running(): IterableIterator<NativeService> {
    yield* this.running_.values();
  }

  /** running() with each service's id. */
  *runningById(): IterableIterator<[string, NativeService]> {
    yield* this.running_;
  }

  stats(): Promise<DataplaneStats> { return this.addon.stats(); }

  /** Every connection matching the filter, across workers, up to `limit`. */
  async connections(filter: ConnFilter = {}, limit = 100000): Promise<ConnEntry[]> {
    const out: ConnEntry[] = [];
    for (let w = 0; w < this.startInfo.workers.length && out.length < limit; w++) {
      let cursor = 0;
      do {
        const page = await this.addon.connections(w, cursor, 4096, filter);
        out.push(...page.connections);
        cursor = page.next;
      } while (cursor !== 0 && out.length < limit);
    }
    return out.slice(0, limit);
  }

  /** How many connections match the filter, across workers (paged, nothing kept). */
  async countConnections(filter: ConnFilter = {}): Promise<number> {
    let n = 0;
    for (let w = 0; w < this.startInfo.workers.length; w++) {
      let cursor = 0;
      do {
        const page = await this.addon.connections(w, cursor, 4096, filter);
        n += page.connections.length;
        cursor = page.next;
      } while (cursor !== 0);
    }
    return n;
  }

  /** The native id the dataplane knows a real server by, if it is in the dataplane now. */
  destId(sid: string, rid: string): number | undefined {
    return this.running_.get(sid)?.dests.find((d) => hostPort(d.address, d.port) === rid)?.id;
  }

  /** Stops the dataplane; what it saved for the next start, if it was asked to. */
  stop(): SaveReport | null { return this.addon.stop() ?? null; }
}
