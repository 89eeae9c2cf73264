// Turns services (as the dataplane should have them: health applied) into the plain objects
// the native core takes (native/addon's config_convert.cc reads exactly these fields), one
// service at a time, so a change costs the services it touches. Native ids for services and
// real servers are small integers the dataplane indexes its per-worker state by: a service
// keeps its id while it exists, a real server while it stays in its service, and a freed id
// goes back into use only after every never-used one (so a new server rarely meets an old
// one's id; when it does, the core starts it clean).
import { timeoutsOf, type FulcrumConfig, type ServiceConfig } from './config_schema';
import { serverId, serverPort, serviceId } from './identity';

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

export interface NativeTimeouts { tcp: number; tcpfin: number; udp: number }

export interface NativeCoreConfig {
  services: NativeService[];
  rules: NativeMatchRule[];
  timeouts: NativeTimeouts;
  tunnelSource: string;
  mtu: number;
}

const FLAG_BITS: Record<string, number> = {
  'flag-1': 0x08, 'sh-fallback': 0x08, 'mh-fallback': 0x08,
  'flag-2': 0x10, 'sh-port': 0x10, 'mh-port': 0x10,
  'flag-3': 0x20,
};

/** Stable small integers for keys, reusing freed ones only after everything else. Every
 * acquire/release can be undone (a change the dataplane refused leaves the ids as they were). */
export class IdMap {
  private readonly ids = new Map<string, number>();
  private next = 0;
  private readonly free: number[] = [];
  private freeHead = 0;

  constructor(private readonly limit: number) {}

  get(key: string): number | undefined { return this.ids.get(key); }

  /** The key's id, taking a new one if it has none; `log` records how to undo it. */
  acquire(key: string, log?: Array<() => void>): number {
    const have = this.ids.get(key);
    if (have !== undefined) return have;
    let id: number;
    if (this.next < this.limit) {
      id = this.next++;
      log?.push(() => { this.next--; this.ids.delete(key); });
    } else if (this.freeHead < this.free.length) {
      id = this.free[this.freeHead++];
      log?.push(() => { this.free[--this.freeHead] = id; this.ids.delete(key); });
    } else {
      throw new Error(`more than ${this.limit} entries`);
    }
    this.ids.set(key, id);
    return id;
  }

  release(key: string, log?: Array<() => void>): void {
    const id = this.ids.get(key);
    if (id === undefined) return;
    this.ids.delete(key);
    this.free.push(id);
    log?.push(() => { this.free.pop(); this.ids.set(key, id); });
  }

  /** Drops the used head of the free queue; only between changes (undo logs index into it). */
  tidy(): void {
    if (this.freeHead > 1024 && this.freeHead * 2 > this.free.length) {
      this.free.splice(0, this.freeHead);
      this.freeHead = 0;
    }
  }

  /** Assigns ids for exactly these keys: kept keys keep theirs, gone keys free theirs. */
  assign(keys: string[]): Map<string, number> {
    this.retain(new Set(keys));
    for (const k of keys) this.acquire(k);
    return new Map(this.ids);
  }

  /** Frees the ids of every key not in `keep`. */
  retain(keep: Set<string>): void {
    for (const k of [...this.ids.keys()]) if (!keep.has(k)) this.release(k);
  }
}

const destKey = (sid: string, rid: string) => `${sid} -> ${rid}`;

/** One service as the core takes it, with ids from `ids` (recorded in `log`). */
export function nativeService(s: ServiceConfig, ids: NativeIds, log?: Array<() => void>): NativeService {
  const sid = serviceId(s);
  return {
    id: ids.services.acquire(sid, log),
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
    dests: (s.realServers ?? []).map((r) => ({
      id: ids.dests.acquire(destKey(sid, serverId(s, r)), log),
      address: r.address,
      port: serverPort(s, r),
      method: r.method ?? 'dr',
      weight: r.weight ?? 1,
      upperThreshold: r.upperThreshold ?? 0,
      lowerThreshold: r.lowerThreshold ?? 0,
    })).reverse(),
  };
}

/** The native ids of services and real servers. */
export class NativeIds {
  readonly services: IdMap;
  readonly dests: IdMap;

  constructor(limits: { maxServices: number; maxDests: number }) {
    this.services = new IdMap(limits.maxServices);
    this.dests = new IdMap(limits.maxDests);
  }

  /** Frees the ids of a service's real servers that `next` no longer has (all when next is
   * undefined: the service goes, and its own id with it). */
  releaseGone(prev: ServiceConfig, next: ServiceConfig | undefined, log?: Array<() => void>): void {
    const sid = serviceId(prev);
    const kept = new Set((next?.realServers ?? []).map((r) => serverId(next!, r)));
    for (const r of prev.realServers ?? []) {
      const rid = serverId(prev, r);
      if (!kept.has(rid)) this.dests.release(destKey(sid, rid), log);
    }
    if (!next) this.services.release(sid, log);
  }

  destId(sid: string, rid: string): number | undefined { return this.dests.get(destKey(sid, rid)); }
}

export function nativeRules(cfg: Pick<FulcrumConfig, 'matchRules'>): NativeMatchRule[] {
  return (cfg.matchRules ?? []).map((r) => {
    const [prefix, len] = r.prefix.split('/');
    const [lo, hi] = r.ports ? r.ports.split('-').map(Number) : [0, 65535];
    return { prefix, prefixLength: Number(len), protocol: r.protocol ?? '', portLow: lo, portHigh: hi ?? lo, mark: r.mark };
  });
}

export function nativeTimeouts(t: FulcrumConfig['timeouts']): NativeTimeouts {
  return timeoutsOf(t);
}

/** A whole config at once (start-up, tests): the same per-service conversion. */
export class NativeConfigBuilder {
  readonly ids: NativeIds;

  constructor(limits: { maxServices: number; maxDests: number }) {
    this.ids = new NativeIds(limits);
  }

  build(cfg: FulcrumConfig): NativeCoreConfig {
    const services = cfg.services ?? [];
    // Free what is gone before taking new ids, as a reload always did.
    this.ids.services.retain(new Set(services.map(serviceId)));
    this.ids.dests.retain(new Set(services.flatMap((s) => (s.realServers ?? []).map((r) => destKey(serviceId(s), serverId(s, r))))));
    return {
      services: services.map((s) => nativeService(s, this.ids)),
      rules: nativeRules(cfg),
      timeouts: nativeTimeouts(cfg.timeouts),
      tunnelSource: cfg.tunnelSource ?? '0.0.0.0',
      mtu: 1500,
    };
  }
}
