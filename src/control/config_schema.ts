// The config file's shape as typebox schemas: the single source of truth for the file, and
// (with the control plane) for API bodies and the OpenAPI document. Field names follow the
// REST API; values follow ipvsadm (scheduler names, flag names, defaults).
import { Type, type Static } from '@sinclair/typebox';

const Ipv4 = Type.String({ format: 'ipv4', description: 'dotted IPv4 address' });
/** A service's or real server's address: IPv4 dotted or IPv6 (stored in its canonical text). */
const IpAddress = Type.String({ format: 'ip', description: 'IPv4 (dotted) or IPv6 address; IPv6 is stored and shown in its canonical form (RFC 5952, as inet_ntop writes it)' });
export const FAMILIES = ['ipv4', 'ipv6'] as const;
const Cidr = Type.String({ description: 'IPv4 prefix, a.b.c.d/len' });
const Port = Type.Integer({ minimum: 0, maximum: 65535 });

export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'lblc', 'lblcr', 'dh', 'sh', 'mh', 'fo', 'ovf', 'twos'] as const;
export const SCHED_FLAGS = ['flag-1', 'flag-2', 'flag-3', 'sh-fallback', 'sh-port', 'mh-fallback', 'mh-port'] as const;
export const METHODS = ['nat', 'fullnat', 'dr', 'tun'] as const;
/** The kernel's default timeouts (tcp established, tcp fin-wait, udp), seconds. */
export const DEFAULT_TIMEOUTS = { tcp: 900, tcpfin: 120, udp: 300 } as const;

/** Timeouts with every absent field at the kernel's default. */
export function timeoutsOf(t: { tcp?: number; tcpfin?: number; udp?: number } | undefined): { tcp: number; tcpfin: number; udp: number } {
  return { tcp: t?.tcp ?? DEFAULT_TIMEOUTS.tcp, tcpfin: t?.tcpfin ?? DEFAULT_TIMEOUTS.tcpfin, udp: t?.udp ?? DEFAULT_TIMEOUTS.udp };
}

const Seconds = (dflt: number, min = 0) => Type.Optional(Type.Number({ minimum: min, maximum: 86400, default: dflt }));

/** When and how often a check runs, and how many results change a real server's state
 * (keepalived's delay_loop, connect_timeout, delay_before_retry, warmup; retry = fall - 1). */
const CheckTiming = {
  interval: Seconds(5, 0.1),          // between checks (keepalived delay_loop)
  timeout: Seconds(3, 0.05),          // connect/answer timeout (connect_timeout)
  fall: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 3 })),  // failures in a row to go down
  rise: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 2 })),  // successes in a row to come up
  delayBeforeRetry: Seconds(1, 0),    // after a failure while up, the next try comes this soon
  // The first check waits a random time up to this; by default up to one interval, so checks
  // started together (a config with thousands of servers) spread over it (keepalived's default).
  warmup: Type.Optional(Type.Number({ minimum: 0, maximum: 86400, description: 'seconds; default: the interval' })),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),  // default: the real server's port
  address: Type.Optional(Type.String({ format: 'ipv4' })),            // default: the real server's address (IPv4 only)
};

export const HealthCheckSchema = Type.Union([
  Type.Object({ type: Type.Literal('tcp'), ...CheckTiming }, { additionalProperties: false }),
  Type.Object({
    type: Type.Union([Type.Literal('http'), Type.Literal('https')]),
    ...CheckTiming,
    path: Type.Optional(Type.String({ minLength: 1, default: '/' })),
    host: Type.Optional(Type.String({ minLength: 1 })),  // Host header (keepalived virtualhost)
    statusCodes: Type.Optional(Type.Array(Type.String({ pattern: '^[1-5][0-9]{2}(-[1-5][0-9]{2})?$' }), { minItems: 1 })),  // default 200-299
    digest: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$' })),  // MD5 of the body (keepalived genhash)
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('udp'),
    ...CheckTiming,
    payload: Type.Optional(Type.String({ pattern: '^([0-9a-fA-F]{2})*$' })),      // hex; default: 16 random bytes
    requireReply: Type.Optional(Type.String({ pattern: '^([0-9a-fA-F]{2})*$' })), // hex prefix the reply must start with
    minReplyLength: Type.Optional(Type.Integer({ minimum: 0, maximum: 65507 })),
    maxReplyLength: Type.Optional(Type.Integer({ minimum: 0, maximum: 65507 })),
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('dns'),
    ...CheckTiming,
    name: Type.Optional(Type.String({ default: '.' })),
    queryType: Type.Optional(Type.Union(['A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA'].map((t) => Type.Literal(t)), { default: 'SOA' })),
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('command'),  // only from the config file, never from the API
    ...CheckTiming,
    command: Type.Array(Type.String(), { minItems: 1 }),  // argv; exit 0 = up
    dynamic: Type.Optional(Type.Boolean()),               // exit 2..255 = up with weight exit-2 (misc_dynamic)
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('agent'),  // the real server reports its load; the weight scales with the idle share
    ...CheckTiming,
    protocol: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('http')], { default: 'tcp' })),
    path: Type.Optional(Type.String({ minLength: 1 })),  // for http
  }, { additionalProperties: false }),
]);

export const RealServerSchema = Type.Object({
  address: IpAddress,
  port: Type.Optional(Port),
  method: Type.Optional(Type.Union(METHODS.map((m) => Type.Literal(m)), { default: 'dr' })),
  weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, default: 1 })),
  upperThreshold: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
  lowerThreshold: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
  /** Replaces the service's healthChecks for this real server; [] turns checking off. */
  healthChecks: Type.Optional(Type.Array(HealthCheckSchema)),
}, { additionalProperties: false });

export const ServiceSchema = Type.Object({
  protocol: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('sctp')])),
  address: Type.Optional(IpAddress),
  port: Type.Optional(Port),
  fwmark: Type.Optional(Type.Integer({ minimum: 1, maximum: 4294967295 })),
  family: Type.Optional(Type.Union(FAMILIES.map((f) => Type.Literal(f)), {
    description: 'a fwmark service\'s address family (ipvsadm -f N -6; default ipv4); an address service\'s is its address\'s',
  })),
  scheduler: Type.Optional(Type.Union(SCHEDULERS.map((s) => Type.Literal(s)), { default: 'wlc' })),
  schedFlags: Type.Optional(Type.Array(Type.Union(SCHED_FLAGS.map((f) => Type.Literal(f))), { uniqueItems: true })),
  persistence: Type.Optional(Type.Object({
    timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 2678400, default: 360 })),
    netmask: Type.Optional(Type.Union([Ipv4, Type.Integer({ minimum: 1, maximum: 128 })], {
      description: 'persistence granularity: a dotted mask for IPv4 services (default 255.255.255.255), a prefix length 1..128 for IPv6 ones (default 128)',
    })),
  }, { additionalProperties: false })),
  onePacket: Type.Optional(Type.Boolean()),
  synproxy: Type.Optional(Type.Boolean({
    description: 'the director answers SYNs with SYN cookies and opens the connection to a real server only for a client that completes the handshake (DPVS\'s synproxy): a SYN flood costs no table entry; TCP, NAT and FullNAT real servers only; no window scaling, SACK or timestamps on these connections',
  })),
  mhTableSize: Type.Optional(Type.Union([251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071].map((n) => Type.Literal(n)))),
  realServers: Type.Optional(Type.Array(RealServerSchema)),
  /** Checks run against every real server (all must pass for it to be up). */
  healthChecks: Type.Optional(Type.Array(HealthCheckSchema)),
  /** A failed real server keeps its place with weight 0 instead of being removed. */
  inhibitOnFailure: Type.Optional(Type.Boolean()),
  /** Takes the traffic when the live real servers' weights sum below the quorum. */
  sorryServer: Type.Optional(Type.Object({
    address: IpAddress,
    port: Type.Optional(Port),
    method: Type.Optional(Type.Union(METHODS.map((m) => Type.Literal(m)), { default: 'nat' })),
  }, { additionalProperties: false })),
  quorum: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483647, default: 1 })),
  hysteresis: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, default: 0 })),
}, { additionalProperties: false });

export const MatchRuleSchema = Type.Object({
  prefix: Type.String({ description: 'destination network the rule matches: IPv4 a.b.c.d/len, or IPv6 addr/len (it marks IPv6 packets, for a fwmark service of family ipv6)' }),
  protocol: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('sctp')])),
  ports: Type.Optional(Type.String({ pattern: '^[0-9]+(-[0-9]+)?$', description: 'port or low-high' })),
  mark: Type.Integer({ minimum: 1, maximum: 4294967295 }),
}, { additionalProperties: false });

export const PortSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 32, pattern: '^[A-Za-z0-9_.-]+$' }),
  device: Type.String({ minLength: 1, description: 'PCI address (vfio-pci), DPDK vdev string, or a kernel interface name (af_packet on it)' }),
  address: Type.Optional(Cidr),
  address6: Type.Optional(Type.Array(Type.String({ description: 'IPv6 address with its prefix length, address/len' }), {
    maxItems: 16,
    description: 'the director\'s IPv6 addresses on this link (its link-local address, fe80:: with the MAC\'s EUI-64, is automatic); its TAP gets them too',
  })),
  tap: Type.Optional(Type.Union([Type.Literal(false), Type.String({ minLength: 1, maxLength: 15, pattern: '^[A-Za-z0-9_.-]+$' })], {
    description: 'kernel interface (TAP) for the host\'s own traffic on this port; default: the port name; false: none',
  })),
}, { additionalProperties: false });

export const DataplaneSchema = Type.Object({
  /** Written by a tool that could not know the director's NICs (fulcrum import-keepalived):
   * what is missing. A config carrying it is refused until the section is replaced. */
  placeholder: Type.Optional(Type.String({
    minLength: 1,
    description: 'marks a stand-in dataplane section: the config is refused until it is replaced and this line deleted',
  })),
  eal: Type.Optional(Type.Array(Type.String())),
  workers: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 1023 }), { minItems: 1 })),
  connTableSize: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1 << 30 })),
  connTable6Size: Type.Optional(Type.Integer({
    minimum: 1024, maximum: 1 << 30,
    description: 'IPv6 connections (and templates) a worker holds, in a table of their own (64 bytes a record); default: connTableSize / 4',
  })),
  halfOpenBudget: Type.Optional(Type.Integer({
    minimum: 1, maximum: 1 << 30,
    description: 'half-open (SYN_RECV) entries a worker keeps at most; the oldest makes way for a new one; default: connTableSize / 4',
  })),
  maxServices: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 1024 })),
  // Each worker keeps per-id counters (about 100 bytes) for every possible real server.
  maxRealServers: Type.Optional(Type.Integer({ minimum: 1, maximum: 1048575, default: 8192 })),
  keepConnections: Type.Optional(Type.Boolean({
    default: true,
    description: 'a graceful stop saves the connections to the state directory (connections.bin) and the next start restores them',
  })),
  idleBackoff: Type.Optional(Type.Union([Type.Literal(false), Type.Object({
    pauseAfterPolls: Type.Optional(Type.Integer({ minimum: 1 })),
    maxSleepMicroseconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
  }, { additionalProperties: false })])),
  ports: Type.Array(PortSchema, { minItems: 1 }),
  routes: Type.Optional(Type.Array(Type.Object({
    prefix: Type.String({ description: 'IPv4 (a.b.c.d/len) or IPv6 (address/len) prefix' }),
    via: Type.Optional(Type.String({ description: 'gateway of the prefix\'s family; a link-local IPv6 gateway needs port' })),
    port: Type.Optional(Type.String()),
  }, { additionalProperties: false }))),
  acceptRa: Type.Optional(Type.Boolean({
    default: false,
    description: 'take an IPv6 default route from router advertisements on the ports (used when no configured IPv6 route matches); off: they are ignored',
  })),
}, { additionalProperties: false });

/** VIP failover between two directors: keepalived speaks VRRP through a port's kernel
 * interface and `fulcrum serve` follows its state (src/ha). The VIPs are the services'
 * addresses; what else must move with them is listed in floatingAddresses. */
export const VrrpSchema = Type.Object({
  port: Type.String({ minLength: 1, description: 'the Fulcrum port whose kernel interface (TAP) carries the VRRP adverts; it needs an address' }),
  virtualRouterId: Type.Integer({ minimum: 1, maximum: 255, description: 'keepalived virtual_router_id: the same on both directors, unique on the segment' }),
  priority: Type.Optional(Type.Integer({ minimum: 1, maximum: 254, default: 100, description: 'the higher one is MASTER' })),
  advertInt: Type.Optional(Type.Number({
    minimum: 0.01, maximum: 255, default: 1,
    description: 'seconds between adverts; a backup takes over after 3 x advertInt + skew of silence. Whole seconds: VRRP version 2; a fraction: version 3',
  })),
  preempt: Type.Optional(Type.Boolean({ default: true, description: 'a higher priority takes the VIPs back from a lower one (false: keepalived nopreempt)' })),
  preemptDelay: Type.Optional(Type.Number({ minimum: 0, maximum: 1000, default: 0, description: 'seconds after start before preempting' })),
  authentication: Type.Optional(Type.Object({
    password: Type.String({ minLength: 1, maxLength: 8, pattern: '^[!-~]+$', description: 'VRRPv2 simple password (auth_type PASS); keeps a stray router on the segment out, not an attacker' }),
  }, { additionalProperties: false })),
  unicastPeers: Type.Optional(Type.Array(Ipv4, { minItems: 1, description: 'adverts to these addresses instead of the multicast group 224.0.0.18' })),
  floatingAddresses: Type.Optional(Type.Array(Type.Object({
    port: Type.String({ minLength: 1 }),
    address: IpAddress,
  }, { additionalProperties: false }), { description: 'addresses besides the VIPs that move with them, each on its port (the NAT real servers\' gateway on the inside port), IPv4 (ARP) or IPv6 (neighbour discovery)' })),
}, { additionalProperties: false });

/** One connection sync daemon, as `ipvsadm --start-daemon` starts it (the kernel's defaults). */
export const SyncDaemonSchema = Type.Object({
  state: Type.Union([Type.Literal('master'), Type.Literal('backup')]),
  /** The Fulcrum port whose kernel interface carries the datagrams (ipvsadm's --mcast-interface). */
  interface: Type.String({ minLength: 1, maxLength: 32 }),
  syncId: Type.Optional(Type.Integer({ minimum: 0, maximum: 255, default: 0 })),
  /** Payload bytes per message; default the port's MTU less the IP and UDP headers (1472). */
  maxlen: Type.Optional(Type.Integer({ minimum: 1, maximum: 65507 })),
  group: Type.Optional(Type.String({ format: 'ipv4', default: '224.0.0.81' })),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 8848 })),
  ttl: Type.Optional(Type.Integer({ minimum: 1, maximum: 255, default: 1 })),
}, { additionalProperties: false });

/** Connection sync (the kernel's sync daemon and its sysctls, /proc/sys/net/ipv4/vs/sync_*). */
export const SyncSchema = Type.Object({
  /** The daemons to run. The file's list applies on the first start and on reload; between
   * reloads `fvsadm --start-daemon/--stop-daemon` and /v1/sync change it, durably. */
  daemons: Type.Optional(Type.Array(SyncDaemonSchema, { maxItems: 2 })),
  /** sync_threshold: a connection is sent at its threshold-th incoming packet ... */
  threshold: Type.Optional(Type.Integer({ minimum: 0, maximum: 65534, default: 3 })),
  /** ... and every period packets after it (sync_threshold's second number). */
  period: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, default: 50 })),
  refreshPeriod: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483, default: 0, description: 'seconds; sync_refresh_period' })),
  retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 3, default: 0 })),
  persistMode: Type.Optional(Type.Boolean({ default: false })),
  /** backup_only: while a backup daemon runs, this director balances no new connections. */
  backupOnly: Type.Optional(Type.Boolean({ default: false })),
}, { additionalProperties: false });

/** One BGP neighbour (a router), reached through a port's kernel interface. */
export const BgpNeighborSchema = Type.Object({
  address: Type.String({ format: 'ip', description: 'the router\'s address on the port\'s segment (directly connected), IPv4 or IPv6: the session\'s transport; it carries IPv4 VIPs where the port has an IPv4 address and IPv6 VIPs where it has an IPv6 one (address6)' }),
  as: Type.Integer({ minimum: 1, maximum: 4294967295, description: 'the router\'s AS' }),
  port: Type.String({ minLength: 1, description: 'the Fulcrum port whose kernel interface (TAP) reaches it; it needs an address, which is the session\'s source and the announced next hop' }),
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 80, pattern: '^[!-~]+$', description: 'TCP MD5 signature (RFC 2385), the same on the router' })),
}, { additionalProperties: false });

/** VIPs announced to routers with BGP (BIRD 2 under `fulcrum serve`, src/ha/bgp.ts): the
 * routers spread flows over every director announcing a VIP (ECMP). */
export const BgpSchema = Type.Object({
  localAs: Type.Integer({ minimum: 1, maximum: 4294967295, description: 'this director\'s AS (the same on every director of the tier is usual)' }),
  routerId: Type.Optional(Type.String({ format: 'ipv4', description: 'default: the IPv4 address of the first neighbour\'s port that has one (needed when none has)' })),
  neighbors: Type.Array(BgpNeighborSchema, { minItems: 1, maxItems: 64 }),
  holdTime: Type.Optional(Type.Integer({ minimum: 3, maximum: 65535, default: 9, description: 'seconds; a dead director\'s routes go after this at most' })),
  keepaliveTime: Type.Optional(Type.Integer({ minimum: 1, maximum: 21845, description: 'seconds; default a third of holdTime' })),
  /** How long a graceful stop waits between the withdrawal and the dataplane stopping, so the
   * routers move flows away while this director still forwards them. */
  withdrawDelay: Type.Optional(Type.Number({ minimum: 0, maximum: 60, default: 2, description: 'seconds' })),
}, { additionalProperties: false });

/** High availability: connection sync with other directors (kernel IPVS or Fulcrum). */
export const HaSchema = Type.Object({
  sync: Type.Optional(SyncSchema),
  vrrp: Type.Optional(VrrpSchema),
  bgp: Type.Optional(BgpSchema),
  /** sloppy_tcp (the kernel sysctl): a TCP segment other than SYN (never RST) for a service
   * with no connection starts one, so a flow moved here from another director (ECMP, a dead
   * director) goes on; with mh or sh every director picks the same real server. A restart
   * applies changes. */
  sloppyTcp: Type.Optional(Type.Boolean({ default: false })),
}, { additionalProperties: false });

export const ConfigSchema = Type.Object({
  dataplane: DataplaneSchema,
  localAddresses: Type.Optional(Type.Array(Type.String({ description: 'FullNAT local address, IPv4 or IPv6 (the dataplane answers ARP or neighbour discovery for them)' }))),
  tunnelSource: Type.Optional(Ipv4),
  /** The outer source of tunnels with an IPv6 outer header (IPv6-in-IPv6, and IPv4-in-IPv6 to an
   * IPv6 tun server of an IPv4 service); absent: the VIP, and across families the address of
   * the port the packet leaves by. */
  tunnelSource6: Type.Optional(Type.String({ format: 'ipv6', description: 'IPv6 address' })),
  timeouts: Type.Optional(Type.Object({
    tcp: Type.Optional(Type.Integer({ minimum: 1 })),
    tcpfin: Type.Optional(Type.Integer({ minimum: 1 })),
    udp: Type.Optional(Type.Integer({ minimum: 1 })),
  }, { additionalProperties: false })),
  services: Type.Optional(Type.Array(ServiceSchema)),
  matchRules: Type.Optional(Type.Array(MatchRuleSchema)),
  stateDir: Type.Optional(Type.String()),
  /** High availability: VRRP (a restart applies changes) and connection sync (a reload applies it). */
  ha: Type.Optional(HaSchema),
  /** How health checks run (a restart applies changes). */
  healthChecking: Type.Optional(Type.Object({
    /** Most checks running at once; due checks beyond it wait their turn. */
    maxInFlight: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 1000 })),
    /** Threads running the checks other than TCP (HTTP, UDP, DNS, command, agent) off the
     * control thread; 0 runs them on it. TCP checks have the addon's own thread. */
    checkThreads: Type.Optional(Type.Integer({ minimum: 0, maximum: 64, default: 1 })),
  }, { additionalProperties: false })),
  api: Type.Optional(Type.Object({
    /** host:port; anything but loopback needs tokenFile. */
    listen: Type.Optional(Type.String({ pattern: '^([0-9.]+|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$', default: '127.0.0.1:9390',
      description: 'address:port, IPv6 bracketed ([::1]:9390)' })),
    /** A file holding the bearer token clients must send (not for /healthz and /readyz). */
    tokenFile: Type.Optional(Type.String({ minLength: 1 })),
    /** A file holding a second, read-only token that opens GET /metrics only (Prometheus's). */
    metricsTokenFile: Type.Optional(Type.String({ minLength: 1 })),
    /** Largest request body accepted, bytes. */
    bodyLimit: Type.Optional(Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, default: 1048576 })),
  }, { additionalProperties: false })),
}, { additionalProperties: false });

export type HealthCheckConfig = Static<typeof HealthCheckSchema>;
export type RealServerConfig = Static<typeof RealServerSchema>;
export type ServiceConfig = Static<typeof ServiceSchema>;
export type MatchRuleConfig = Static<typeof MatchRuleSchema>;
export type FulcrumConfig = Static<typeof ConfigSchema>;
export type PortConfig = Static<typeof PortSchema>;
export type SyncDaemonConfig = Static<typeof SyncDaemonSchema>;
export type SyncConfig = Static<typeof SyncSchema>;
export type VrrpConfig = Static<typeof VrrpSchema>;
export type BgpConfig = Static<typeof BgpSchema>;
