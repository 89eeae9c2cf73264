// Turns a validated config into the plain object the native core takes (native/addon's
// config_convert.cc reads exactly these fields). Ids for services and real servers come from
// an IdMap that keeps them stable across reloads: the dataplane indexes its per-worker state
// by id, and a real server keeps its id (and its counters) while it stays in the config.
import type { FulcrumConfig, ServiceConfig } from './config_schema';

export interface NativeDest {
  id: number;
  address: string;
  port: number;
  method: 'nat' | 'fullnat' | 'dr' | 'tun';
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
}

export interface NativeService {
  id: number;
  protocol: 'tcp' | 'udp' | 'sctp' | '';
  address: string;
  port: number;
  fwmark: number;
  scheduler: string;
  /** ipvsadm's IP_VS_SVC_F_* bits: persistent 0x1, one-packet 0x4, flag-1..3 0x8/0x10/0x20. */
  flags: number;
  persistTimeout: number;
  netmask: string;
  mhTableSize: number;
  /** Newest first, as the kernel keeps them: the config lists them in the order added. */
  dests: NativeDest[];
}

export interface NativeMatchRule {
  prefix: string;
  prefixLength: number;
  protocol: 'tcp' | 'udp' | 'sctp' | '';
  portLow: number;
  portHigh: number;
  mark: number;
}

export interface NativeCoreConfig {
  services: NativeService[];
  rules: NativeMatchRule[];
  timeouts: { tcp: number; tcpfin: number; udp: number };
  tunnelSource: string;
  mtu: number;
}

const FLAG_BITS: Record<string, number> = {
  'flag-1': 0x08, 'sh-fallback': 0x08, 'mh-fallback': 0x08,
  'flag-2': 0x10, 'sh-port': 0x10, 'mh-port': 0x10,
  'flag-3': 0x20,
};

/** Stable small integers for keys, reusing freed ones only after everything else. */
export class IdMap {
  private readonly ids = new Map<string, number>();
  private next = 0;
  private readonly free: number[] = [];

  constructor(private readonly limit: number) {}

  /** Assigns ids for exactly these keys: kept keys keep theirs, gone keys free theirs. */
  assign(keys: string[]): Map<string, number> {
    const wanted = new Set(keys);
    for (const [k, id] of this.ids) {
      if (!wanted.has(k)) {
        this.ids.delete(k);
        this.free.push(id);
      }
    }
    for (const k of keys) {
      if (this.ids.has(k)) continue;
      const id = this.next < this.limit ? this.next++ : this.free.shift();
      if (id === undefined) throw new Error(`more than ${this.limit} entries`);
      this.ids.set(k, id);
    }
    return new Map(this.ids);
  }
}

export const serviceKey = (s: ServiceConfig) =>
  s.fwmark !== undefined ? `fwmark ${s.fwmark}` : `${s.protocol} ${s.address}:${s.port}`;

export class NativeConfigBuilder {
  private readonly serviceIds: IdMap;
  private readonly destIds: IdMap;

  constructor(limits: { maxServices: number; maxDests: number }) {
    this.serviceIds = new IdMap(limits.maxServices);
    this.destIds = new IdMap(limits.maxDests);
  }

  build(cfg: FulcrumConfig): NativeCoreConfig {
    const services = cfg.services ?? [];
    const sids = this.serviceIds.assign(services.map(serviceKey));
    const destKey = (s: ServiceConfig, address: string, port: number) => `${serviceKey(s)} -> ${address}:${port}`;
    const rsPort = (s: ServiceConfig, port: number | undefined, method: string) =>
      // DR and TUN cannot change the port: ipvsadm forces the service's (reference §1.2).
      s.fwmark === undefined && (method === 'dr' || method === 'tun') ? s.port ?? 0 : port ?? s.port ?? 0;
    const dids = this.destIds.assign(services.flatMap((s) =>
      (s.realServers ?? []).map((r) => destKey(s, r.address, rsPort(s, r.port, r.method ?? 'dr')))));
    return {
      services: services.map((s) => ({
        id: sids.get(serviceKey(s))!,
        protocol: s.fwmark !== undefined ? '' : s.protocol!,
        address: s.address ?? '0.0.0.0',
        port: s.port ?? 0,
        fwmark: s.fwmark ?? 0,
        scheduler: s.scheduler ?? 'wlc',
        flags: (s.persistence ? 0x1 : 0) | (s.onePacket ? 0x4 : 0) |
          (s.schedFlags ?? []).reduce((acc, f) => acc | FLAG_BITS[f], 0),
        persistTimeout: s.persistence?.timeout ?? 360,
        netmask: s.persistence?.netmask ?? '255.255.255.255',
        mhTableSize: s.mhTableSize ?? 4093,
        dests: (s.realServers ?? []).map((r) => {
          const method = r.method ?? 'dr';
          const port = rsPort(s, r.port, method);
          return {
            id: dids.get(destKey(s, r.address, port))!,
            address: r.address,
            port,
            method,
            weight: r.weight ?? 1,
            upperThreshold: r.upperThreshold ?? 0,
            lowerThreshold: r.lowerThreshold ?? 0,
          };
        }).reverse(),
      })),
      rules: (cfg.matchRules ?? []).map((r) => {
        const [prefix, len] = r.prefix.split('/');
        const [lo, hi] = r.ports ? r.ports.split('-').map(Number) : [0, 65535];
        return { prefix, prefixLength: Number(len), protocol: r.protocol ?? '', portLow: lo, portHigh: hi ?? lo, mark: r.mark };
      }),
      timeouts: { tcp: cfg.timeouts?.tcp ?? 900, tcpfin: cfg.timeouts?.tcpfin ?? 120, udp: cfg.timeouts?.udp ?? 300 },
      tunnelSource: cfg.tunnelSource ?? '0.0.0.0',
      mtu: 1500,
    };
  }
}
