// Turns services (as the dataplane should have them: health applied) into the plain objects
// the native core takes (native/addon's config_convert.cc reads exactly these fields), one
// service at a time, so a change costs the services it touches. Native ids for services and
// real servers are small integers the dataplane indexes its per-worker state by: a service
// keeps its id while it exists, a real server while it stays in its service, and a freed id
// goes back into use only after every never-used one (so a new server rarely meets an old
// one's id; when it does, the core starts it clean).
import { timeoutsOf, type FulcrumConfig, type ServiceConfig } from './config_schema';
import { hostPort } from './address';
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
  /** The VIP; a fwmark service's is its family's unspecified address (0.0.0.0 or ::), which
   * is how the core tells an IPv6 fwmark service from an IPv4 one. */
  address: string;
  port: number;
  fwmark: number;
  scheduler: string;
  /** ipvsadm's IP_VS_SVC_F_* bits: persistent 0x1, one-packet 0x4, flag-1..3 0x8/0x10/0x20;
   * DPVS's synproxy 0x8000. */
  flags: number;
  persistTimeout: number;
  /** Persistence granularity of an IPv4 service (dotted); '255.255.255.255' for IPv6 ones. */
  netmask: string;
  /** Persistence granularity of an IPv6 service (prefix length); 128 for IPv4 ones. */
  netmask6: number;
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
  /** '::' when not set. */
  tunnelSource6?: string;
  mtu: number;
  /** ha.sloppyTcp (absent: off). */
  sloppyTcp?: boolean;
}

const FLAG_BITS: Record<string, number> = {
  'flag-1': 0x08, 'sh-fallback': 0x08, 'mh-fallback': 0x08,
  'flag-2': 0x10, 'sh-port': 0x10, 'mh-port': 0x10,
  'flag-3': 0x20,
};

/** What id allocators did during a change, to undo it (a change the dataplane refused, or
 * whose persist failed, leaves the ids as they were): flat records of numbers and keys, not a
 * closure per id (a 100,000-server restore made 110,000 closures for the collector to copy). */
export type IdUndo = Array<number | string>;

// Record kinds: a fresh id taken, a freed id reused, an id freed.
const FRESH = 0;
const REUSED = 1;
const RELEASED = 2;

/** Stable small integers, reusing freed ones only after every never-used one. */
export class IdPool {
  private next = 0;
  private free: number[] = [];
  private freeHead = 0;

  constructor(private readonly limit: number) {}

  /** A new id; `log` records it (two slots: kind, id). */
  acquire(log?: IdUndo): number {
    let id: number;
    if (this.next < this.limit) {
      id = this.next++;
      log?.push(FRESH, id);
    } else if (this.freeHead < this.free.length) {
      id = this.free[this.freeHead++];
      log?.push(REUSED, id);
    } else {
      throw new Error(`more than ${this.limit} entries`);
    }
    return id;
  }

  release(id: number, log?: IdUndo): void {
    this.free.push(id);
    log?.push(RELEASED, id);
  }

  /** Undoes what `log` recorded, newest first (records of `stride` slots, kind and id first). */
  undo(log: IdUndo, stride = 2): void {
    for (let i = log.length - stride; i >= 0; i -= stride) this.undoOne(log[i] as number, log[i + 1] as number);
  }

  undoOne(kind: number, id: number): void {
    if (kind === FRESH) this.next--;
    else if (kind === REUSED) this.free[--this.freeHead] = id;
    else this.free.pop();
  }

  /** Drops the used head of the free queue; only between changes (undo logs index into it). */
  tidy(): void {
    if (this.freeHead > 1024 && this.freeHead * 2 > this.free.length) {
      this.free = this.free.slice(this.freeHead);
      this.freeHead = 0;
    }
  }
}

/** Stable small integers for keys (an IdPool with the key of each id). */
export class IdMap {
  private readonly ids = new Map<string, number>();
  private readonly pool: IdPool;

  constructor(limit: number) {
    this.pool = new IdPool(limit);
  }

  get(key: string): number | undefined { return this.ids.get(key); }

  /** The key's id, taking a new one if it has none; `log` records how to undo it (three
   * slots: the pool's two, then the key). */
  acquire(key: string, log?: IdUndo): number {
    const have = this.ids.get(key);
    if (have !== undefined) return have;
    const id = this.pool.acquire(log);
    log?.push(key);
    this.ids.set(key, id);
    return id;
  }

  release(key: string, log?: IdUndo): void {
    const id = this.ids.get(key);
    if (id === undefined) return;
    this.ids.delete(key);
    this.pool.release(id, log);
    log?.push(key);
  }

  undo(log: IdUndo): void {
    for (let i = log.length - 3; i >= 0; i -= 3) {
      const kind = log[i] as number;
      const id = log[i + 1] as number;
      const key = log[i + 2] as string;
      if (kind === RELEASED) this.ids.set(key, id);
      else this.ids.delete(key);
      this.pool.undoOne(kind, id);
    }
  }

  tidy(): void { this.pool.tidy(); }

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

/** A real server's key within its native service, as identity.serverId() names it. */
const destRid = (d: NativeDest) => hostPort(d.address, d.port);

/**
 * One service as the core takes it, with ids from `ids` (recorded in `log`). `prev` is the
 * service as the dataplane runs it now, if it does: its real servers that stay keep their ids
 * (no table of keys per real server is kept: the running form is the record).
 */
export function nativeService(s: ServiceConfig, ids: NativeIds, log?: NativeIdsUndo, prev?: NativeService): NativeService {
  const servers = s.realServers ?? [];
  // Ids by real server within this service: those it keeps, and each new one once.
  const have = new Map<string, number>();
  if (prev) for (const d of prev.dests) have.set(destRid(d), d.id);
  const dests: NativeDest[] = new Array(servers.length);
  for (let i = 0; i < servers.length; i++) {
    const r = servers[i];
    const rid = serverId(s, r);
    let id = have.get(rid);
    if (id === undefined) have.set(rid, (id = ids.dests.acquire(log?.dests)));
    // Newest first, as the kernel keeps them: the config lists them in the order added.
    dests[servers.length - 1 - i] = {
      id,
      address: r.address,
      port: serverPort(s, r),
      method: r.method ?? 'dr',
      weight: r.weight ?? 1,
      upperThreshold: r.upperThreshold ?? 0,
      lowerThreshold: r.lowerThreshold ?? 0,
    };
  }
  const v6 = s.address !== undefined ? s.address.indexOf(':') >= 0 : s.family === 'ipv6';
  const mask = s.persistence?.netmask;
  return {
    id: ids.services.acquire(serviceId(s), log?.services),
    protocol: s.fwmark !== undefined ? '' : s.protocol!,
    address: s.address ?? (v6 ? '::' : '0.0.0.0'),
    port: s.port ?? 0,
    fwmark: s.fwmark ?? 0,
    scheduler: s.scheduler ?? 'wlc',
    flags: (s.persistence ? 0x1 : 0) | (s.onePacket ? 0x4 : 0) | (s.synproxy ? 0x8000 : 0) |
      (s.schedFlags ?? []).reduce((acc, f) => acc | FLAG_BITS[f], 0),
    persistTimeout: s.persistence?.timeout ?? 360,
    netmask: typeof mask === 'string' ? mask : '255.255.255.255',
    netmask6: typeof mask === 'number' ? mask : 128,
    mhTableSize: s.mhTableSize ?? 4093,
    dests,
  };
}

/** The undo records of one change, per allocator. */
export interface NativeIdsUndo { services: IdUndo; dests: IdUndo }

/** The native ids of services (by service id) and real servers (held by the running form). */
export class NativeIds {
  readonly services: IdMap;
  readonly dests: IdPool;

  constructor(limits: { maxServices: number; maxDests: number }) {
    this.services = new IdMap(limits.maxServices);
    this.dests = new IdPool(limits.maxDests);
  }

  /** A log for one change's ids. */
  begin(): NativeIdsUndo {
    this.services.tidy();
    this.dests.tidy();
    return { services: [], dests: [] };
  }

  /** Puts every id back as it was when `begin()` made the log. */
  undo(log: NativeIdsUndo): void {
    this.dests.undo(log.dests);
    this.services.undo(log.services);
    log.dests.length = 0;
    log.services.length = 0;
  }

  /** Frees the ids of the real servers of `prev` (running as service `sid`) that `next` no
   * longer has (all when next is undefined: the service goes, and its own id with it), in
   * the order they were added. */
  releaseGone(sid: string, prev: NativeService, next: ServiceConfig | undefined, log?: NativeIdsUndo): void {
    const kept = new Set((next?.realServers ?? []).map((r) => serverId(next!, r)));
    for (let i = prev.dests.length - 1; i >= 0; i--) {
      const d = prev.dests[i];
      if (!kept.has(destRid(d))) this.dests.release(d.id, log?.dests);
    }
    if (!next) this.services.release(sid, log?.services);
  }
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
  private built = new Map<string, NativeService>();

  constructor(limits: { maxServices: number; maxDests: number }) {
    this.ids = new NativeIds(limits);
  }

  build(cfg: FulcrumConfig): NativeCoreConfig {
    const services = cfg.services ?? [];
    const next = new Map(services.map((s) => [serviceId(s), s]));
    // Free what is gone before taking new ids, as a reload always did.
    for (const [sid, prev] of this.built) this.ids.releaseGone(sid, prev, next.get(sid));
    const built = new Map<string, NativeService>();
    for (const s of services) built.set(serviceId(s), nativeService(s, this.ids, undefined, this.built.get(serviceId(s))));
    this.built = built;
    return {
      services: [...built.values()],
      rules: nativeRules(cfg),
      timeouts: nativeTimeouts(cfg.timeouts),
      tunnelSource: cfg.tunnelSource ?? '0.0.0.0',
      ...(cfg.tunnelSource6 ? { tunnelSource6: cfg.tunnelSource6 } : {}),
      mtu: 1500,
    };
  }
}
