// Loads the N-API addon built by cmake-js and gives it a TypeScript face. The addon is the
// only way into the native code; everything it returns is described here.
import path from 'node:path';
import type { NativeCoreConfig, NativeMatchRule, NativeService } from './control/native_config';

/** Counters as ipvsadm shows them (`--stats`). */
export interface TrafficCounters {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
}

export interface CoreDemoOptions {
  /** Number of client connections (each SYN, ACK, request, FIN) sent through the core. */
  connections: number;
  /** Weights of the three real servers, in the order they are added. */
  weights: number[];
}

export interface CoreDemoDest {
  address: string;
  port: number;
  weight: number;
  activeConns: number;
  inactConns: number;
  stats: TrafficCounters;
}

export interface CoreDemoResult {
  service: { protocol: string; address: string; port: number; scheduler: string; stats: TrafficCounters };
  dests: CoreDemoDest[];
  /** Per real server address, how many replies the simulated clients got from it. */
  answeredBy: Record<string, number>;
  drops: Record<string, number>;
}

/**
 * A change to the config the dataplane runs (`applyDelta`), next to the whole config that
 * `apply` takes. The new config is the current one with `remove` taken out, then `upsert` put in
 * by service id; it is validated as a whole config is (every problem listed with its path, e.g.
 * `upsert[3].dests[0].weight: ...`, cross-service rules included: one dest id in two services,
 * two services with the same protocol/address/port or fwmark), and nothing changes when it is
 * refused. Its cost grows with what it names, not with the size of the config: services it does
 * not name are shared with the running config, and workers re-sync only the ones it names.
 */
export interface NativeDelta {
  /** Services added or replaced whole by id, with all their dests (same shape as in apply). */
  upsert?: NativeService[];
  /** Ids of services removed (their dests go with them). */
  remove?: number[];
  /** Replaces the match rules when present. */
  rules?: NativeMatchRule[];
  /** Replaces the timeouts when present. */
  timeouts?: { tcp: number; tcpfin: number; udp: number };
  /** Replaces the TUN outer source when present. */
  tunnelSource?: string;
  /** Replaces the IPv6 TUN outer source when present ('::': none). */
  tunnelSource6?: string;
}

/** What `start` needs besides the core config (see src/control/dataplane_options.ts). */
export interface DataplaneStartOptions {
  eal: string[];
  /** CPU of each worker lcore. */
  workers: number[];
  connTableSize: number;
  /** IPv6 connections a worker holds (its own table); absent: a quarter of connTableSize. */
  connTable6Size?: number;
  /** Half-open (SYN_RECV) entries a worker keeps at most (capped at connTableSize); absent:
   * a quarter of the table. */
  halfOpenBudget?: number;
  /** Fixes the workers' hash and scheduler seed (tests that repeat a run); absent, as in
   * production, a secret is drawn at every start. */
  hashSeed?: number;
  idleBackoff: false | { pauseAfterPolls: number; maxSleepMicroseconds: number };
  limits: { maxServices: number; maxDests: number };
  /** address: a.b.c.d/len; tap: the kernel interface for the exception path (omitted: none). */
  ports: { name: string; device: string; address?: string; tap?: string;
    /** IPv6 address/len list (the link-local address is automatic). */
    address6?: string[];
    /** Answered for (ARP, or neighbour discovery for IPv6 ones) only while the director owns its VIPs (ha.vrrp's floating addresses). */
    floating?: string[] }[];
  /** Whether the director starts owning its VIPs (absent: true); false with ha.vrrp. */
  vipOwner?: boolean;
  /** IPv4 or IPv6 prefixes (an IPv6 one goes to the IPv6 table); via of the same family. */
  routes: { prefix: string; via?: string; port?: string }[];
  /** IPv4 and IPv6 (the IPv6 ones are answered in neighbour discovery). */
  localAddresses: string[];
  /** Take a default route from IPv6 router advertisements (absent: they are ignored). */
  acceptRa?: boolean;
  /** Where a graceful stop saves the connections and the next start restores them from
   * (absent: neither). The start consumes the file. */
  connectionsFile?: string;
}

/** What a start made of the connections file (null: no file was asked for). */
export interface RestoreReport {
  file: string;
  /** A file was there. */
  found: boolean;
  /** Why it was not used (then the director started empty; the file is kept as FILE.refused). */
  refused?: string;
  /** When it was saved (ms since the epoch) and how long the director was down since. */
  savedAt: number;
  downMs: number;
  savedWorkers: number;
  entries: number;
  restored: number;
  skipped: { expired: number; noService: number; noRealServer: number; fullnatPortElsewhere: number;
    tableFull: number; badRecord: number };
  ms: number;
}

/** What a graceful stop saved (null: no connections file was asked for, or nothing ran). */
export interface SaveReport {
  file: string;
  /** The file could not be written (an older one, if any, stays). */
  error?: string;
  saved: number;
  /** Of them SYN-proxied, saved with their sequence shift. */
  synproxied: number;
  /** Of them IPv6 (and NAT64) connections and templates. */
  ipv6: number;
  /** Not saved: connections to a tunnel server of the other family (a record names one family). */
  skippedMixedTunnel: number;
  ms: number;
}

export interface StartInfo {
  hugepages: boolean;
  ealArgs: string[];
  mbufs: number;
  workers: { id: number; lcore: number; cpu: number }[];
  restore: RestoreReport | null;
}

export interface DataplaneStats {
  total: TrafficCounters;
  /** Per service, by native id: 5 fields each (conns, inpkts, outpkts, inbytes, outbytes),
   * summed over the workers; an id no service uses holds what its last user left. The same
   * array is filled again by the next stats() read (in one go, on this thread): a reader that
   * awaits between ids sees the later read's counters from there on. */
  serviceCounters: Float64Array;
  /** Per real server, by native id: 8 fields each (the same five, then activeConns,
   * inactConns, persistConns), summed over the workers; the same array again, as above. */
  destCounters: Float64Array;
  /** Drop counts by reason (packet core and dataplane), only non-zero ones. */
  drops: Record<string, number>;
  events: Record<string, number>;
  /** connections, connCapacity and tableBytes count both tables; connections6 and
   * conn6Capacity are the IPv6 table's share. */
  workers: { id: number; lcore: number; cpu: number; connections: number; connCapacity: number; tableBytes: number;
    connections6: number; conn6Capacity: number;
    /** SYN_RECV entries now, and the most the worker keeps (older ones are evicted). */
    /** halfOpen*: the IPv4 table's; halfOpen6*: the IPv6 table's (each its own budget). */
    halfOpen: number; halfOpenBudget: number; halfOpen6: number; halfOpen6Budget: number;
    polls: number; busyPolls: number; rxPackets: number; txPackets: number; counters: TrafficCounters }[];
}

export interface ConnFilter {
  protocol?: 'tcp' | 'udp';
  virtualAddress?: string;
  virtualPort?: number;
  serverAddress?: string;
  serverPort?: number;
  clientAddress?: string;
  templates?: boolean;
}

export interface ConnEntry {
  protocol: string;
  template: boolean;
  state: string;
  method: string;
  clientAddress: string; clientPort: number;
  virtualAddress: string; virtualPort: number;
  serverAddress: string; serverPort: number;
  localAddress?: string; localPort?: number;
  expiresMs: number;
  dest: number;
  /** Installed from a sync master (a backup's entry), not scheduled here. */
  synced: boolean;
}

/** A connection sync daemon, as the kernel's (ipvsadm --start-daemon). */
export interface SyncDaemonOptions {
  state: 'master' | 'backup';
  /** Fulcrum port name; its kernel interface (tap) carries the datagrams. */
  port: string;
  /** 0..255 (backup: 0 = accept any). */
  syncId: number;
  /** sync_maxlen payload bytes; default 1472 (MTU 1500 - 28). */
  maxlen?: number;
  /** IPv4 multicast group, default '224.0.0.81'. */
  group?: string;
  /** Default 8848. */
  mcastPort?: number;
  /** 1..255, default 1. */
  ttl?: number;
}

/** The kernel's sync sysctls (defaults 3, 50, 0, 0, false, false). */
export interface SyncTunables {
  threshold: number; period: number; refreshPeriod: number; retries: number;
  persistMode: boolean; backupOnly: boolean;
}

export type SyncDaemonInfo = Required<SyncDaemonOptions> & { stats: Record<string, number> };

export interface PortInfo {
  name: string; device: string; driver: string; mac: string; tap?: string;
  linkUp: boolean; speedMbps: number; fullDuplex: boolean; queues: number; rss: boolean;
  stats: { ipackets: number; opackets: number; ibytes: number; obytes: number; imissed: number; ierrors: number;
    oerrors: number; rxNombuf: number };
}

export interface NeighbourInfo {
  port: string; address: string; family: 4 | 6; mac: string; state: string; confirmedMsAgo: number; queued: number;
}

/** The health monitor's TCP prober (native/health/tcp_prober.h): its own thread owns the
 * sockets; a connection made is reset at once. It keeps the process alive only after ref(). */
export interface NativeTcpProber {
  /** Starts probes, eight words each: id, port 1..65535, timeout ms 1..86,400,000, family (4 or
   * 6), then the address: IPv4 as a host-order number in the first word, or IPv6 as four
   * host-order numbers (its bytes 0-3, 4-7, ...); throws naming the first bad one, starting none. */
  start(probes: Uint32Array): void;
  /** Those probes end without an outcome; their sockets close. */
  abort(ids: Uint32Array): void;
  /** Every probe in flight ends without an outcome and the thread stops; start() throws after. */
  close(): void;
  /** From now on its probes keep the event loop alive (as sockets do), until unref(). */
  ref(): void;
  unref(): void;
}

export interface NativeAddon {
  /** new TcpProber(onOutcomes): onOutcomes gets what finished, two words each: the id, then 0
   * (connected), -1 (no answer within the timeout) or the errno of the failure. */
  TcpProber: new (onOutcomes: (outcomes: Int32Array) => void) => NativeTcpProber;
  version(): string;
  /** Starts EAL (once per process), ports and workers; throws naming the cause, leaving nothing running. */
  start(options: DataplaneStartOptions, core: NativeCoreConfig): StartInfo;
  /** Stops the dataplane; with a connectionsFile, after saving the connections to it. */
  stop(): SaveReport | null;
  running(): boolean;
  /**
   * Publishes a new config; throws (with .problems) when refused. Resolves once every worker uses
   * it; rejects, with nothing changed, when a worker's command ring is full.
   */
  apply(core: NativeCoreConfig): Promise<void>;
  /** Publishes a change to the running config (see NativeDelta); settles as apply does. */
  applyDelta(delta: NativeDelta): Promise<void>;
  /** Converts and keeps part of a large delta; the next applyDelta publishes every staged part
   * with its own as one snapshot (a restore crosses over in slices, the workers see it whole). */
  stageDelta(part: NativeDelta): void;
  /** Forgets staged parts (the change they belonged to was abandoned). */
  dropStaged(): void;
  stats(): Promise<DataplaneStats>;
  /** One page of one worker's table: scans up to max records from cursor; next is 0 at the end. */
  connections(worker: number, cursor: number, max: number, filter: ConnFilter): Promise<{ connections: ConnEntry[]; next: number }>;
  /** Drops every connection and template, or those of one real server (by native dest id). */
  flush(dest?: number): Promise<void>;
  /** Publishes VIP ownership to the workers (ha.vrrp: MASTER true, BACKUP/FAULT false): an
   * owner answers ARP for its VIPs, local and floating addresses and takes their traffic, with
   * gratuitous ARP on taking over; a non-owner drops their traffic (counted not_vip_owner).
   * Settles once every worker acts on it. */
  setVipOwner(owner: boolean): Promise<void>;
  /** What was last published. */
  vipOwner(): boolean;
  ports(): PortInfo[];
  /** Worker 0's neighbour table; truncated when it held more entries than the listing was sized for. */
  neighbours(): Promise<{ neighbours: NeighbourInfo[]; truncated: boolean }>;
  /** Tells the service manager (systemd Type=notify, $NOTIFY_SOCKET) a state such as
   * "READY=1"; false when not run by one. */
  notifyService(state: string): boolean;
  /** From now on DPDK's log goes to a queue (takeLog) instead of stderr; call before start(). */
  captureLog(): void;
  /** What DPDK logged since the last call: level is DPDK's (1 emerg .. 4 err, 5 warning, 6
   * notice, 7 info, 8 debug); harmless marks known notices that read like failures. */
  takeLog(): { lines: Array<{ level: number; text: string; harmless: boolean }>; dropped: number };
  /** Starts a sync daemon; throws naming the bad field; one running in that state already:
   * Error with code 'EEXIST'. */
  syncStart(options: SyncDaemonOptions): void;
  /** false: no daemon in that state ran. */
  syncStop(state: 'master' | 'backup'): boolean;
  /** The running daemons with their counters (messages/conns sent or received, drops by reason). */
  syncDaemons(): SyncDaemonInfo[];
  /** Any time, running or not (kept for the next start). */
  syncTunables(t: SyncTunables): void;
  /** Every problem the packet core finds in a config (see src/control/native_config.ts); [] if accepted. */
  checkCoreConfig(config: NativeCoreConfig, limits: { maxServices: number; maxDests: number }): string[];
}

let cached: NativeAddon | undefined;

/** The addon, loaded once. Throws with the path tried when the build is missing. */
export function nativeAddon(): NativeAddon {
  if (cached) return cached;
  const file = path.resolve(__dirname, '../../build/native/Release/fulcrum.node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require(file) as NativeAddon;
  } catch (err) {
    throw new Error(`cannot load the native addon at ${file} (run scripts/setup to build it): ${(err as Error).message}`);
  }
  return cached;
}

/** The packet core's demo (`fulcrum demo --core`): a module of its own, not part of the director's addon. */
export interface DemoAddon {
  coreDemo(options: CoreDemoOptions): CoreDemoResult;
  /** new LoopbackListeners(count): TCP listeners on 127.0.0.1 ports (an accept thread closes
   * every connection at once), the simulated real servers of `fulcrum bench health`. */
  LoopbackListeners: new (count: number) => LoopbackListeners;
}

export interface LoopbackListeners {
  readonly ports: number[];
  /** Connections accepted so far. */
  accepted(): number;
  close(): void;
}

let cachedDemo: DemoAddon | undefined;

/** The demo module, loaded once. Throws with the path tried when the build is missing. */
export function demoAddon(): DemoAddon {
  if (cachedDemo) return cachedDemo;
  const file = path.resolve(__dirname, '../../build/native/Release/fulcrum_demo.node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cachedDemo = require(file) as DemoAddon;
  } catch (err) {
    throw new Error(`cannot load the demo module at ${file} (run scripts/setup to build it): ${(err as Error).message}`);
  }
  return cachedDemo;
}

/** Where cmake-js put the native executables (benchmarks). */
export function nativeBinDir(): string {
  return path.resolve(__dirname, '../../build/native/native/ipvs_core');
}
