// The running director as the control side holds it: the config last applied, the native ids
// it gave services and real servers, and the addon. Every change goes config -> validate ->
// native config -> apply (one snapshot), and reads join the dataplane's numbers back to the
// config's names.
import type { ConnEntry, ConnFilter, DataplaneStats, NativeAddon, StartInfo, TrafficCounters } from '../native';
import type { FulcrumConfig } from './config_schema';
import { dataplaneOptions, limitsOf } from './dataplane_options';
import { NativeConfigBuilder, type NativeCoreConfig } from './native_config';

export interface ServiceView {
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

const ZERO: TrafficCounters = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };

export class Director {
  private config: FulcrumConfig;
  private native: NativeCoreConfig;
  private readonly builder: NativeConfigBuilder;
  readonly startInfo: StartInfo;

  constructor(private readonly addon: NativeAddon, config: FulcrumConfig) {
    this.builder = new NativeConfigBuilder(limitsOf(config));
    this.native = this.builder.build(config);
    this.startInfo = addon.start(dataplaneOptions(config), this.native);
    this.config = config;
  }

  get current(): FulcrumConfig { return this.config; }

  /** Applies a new (validated) config's services; the dataplane section needs a restart. */
  async apply(next: FulcrumConfig): Promise<void> {
    if (JSON.stringify(next.dataplane) !== JSON.stringify(this.config.dataplane) ||
        JSON.stringify(next.localAddresses ?? []) !== JSON.stringify(this.config.localAddresses ?? []))
      throw new Error('dataplane and localAddresses changes need a restart of the director; nothing was applied');
    const native = this.builder.build(next);
    await this.addon.apply(native);
    this.native = native;
    this.config = next;
  }

  /** Services with their real servers and counters, in config order. */
  async services(): Promise<ServiceView[]> {
    const st: DataplaneStats = await this.addon.stats();
    const byId = new Map(st.services.map((s) => [s.id, s]));
    return this.native.services.map((s) => {
      const live = byId.get(s.id);
      const dstats = new Map((live?.dests ?? []).map((d) => [d.id, d]));
      return {
        protocol: s.protocol || 'fwmark',
        address: s.address,
        port: s.port,
        fwmark: s.fwmark,
        scheduler: s.scheduler,
        persistent: (s.flags & 1) !== 0,
        stats: live?.stats ?? ZERO,
        dests: [...s.dests].reverse().map((d) => {
          const l = dstats.get(d.id);
          return { address: d.address, port: d.port, method: d.method, weight: d.weight,
            activeConns: l?.activeConns ?? 0, inactConns: l?.inactConns ?? 0, persistConns: l?.persistConns ?? 0,
            stats: l?.stats ?? ZERO };
        }),
      };
    });
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

  /** The native id the dataplane knows a real server by, if it is in the dataplane now. */
  destId(svc: { protocol?: string; address?: string; port?: number; fwmark?: number }, rs: { address: string; port?: number }): number | undefined {
    const s = this.native.services.find((n) => (svc.fwmark !== undefined ? n.fwmark === svc.fwmark
      : n.fwmark === 0 && n.protocol === svc.protocol && n.address === svc.address && n.port === svc.port));
    const port = rs.port ?? svc.port ?? 0;
    return s?.dests.find((d) => d.address === rs.address && d.port === port)?.id;
  }

  stop(): void { this.addon.stop(); }
}
