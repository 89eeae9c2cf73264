// The config file's shape as typebox schemas: the single source of truth for the file, and
// (with the control plane) for API bodies and the OpenAPI document. Field names follow the
// REST API; values follow ipvsadm (scheduler names, flag names, defaults).
import { Type, type Static } from '@sinclair/typebox';

const Ipv4 = Type.String({ format: 'ipv4', description: 'dotted IPv4 address' });
const Cidr = Type.String({ description: 'IPv4 prefix, a.b.c.d/len' });
const Port = Type.Integer({ minimum: 0, maximum: 65535 });

export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'lblc', 'lblcr', 'dh', 'sh', 'mh', 'fo', 'ovf', 'twos'] as const;
export const SCHED_FLAGS = ['flag-1', 'flag-2', 'flag-3', 'sh-fallback', 'sh-port', 'mh-fallback', 'mh-port'] as const;
export const METHODS = ['nat', 'fullnat', 'dr', 'tun'] as const;

export const RealServerSchema = Type.Object({
  address: Ipv4,
  port: Type.Optional(Port),
  method: Type.Optional(Type.Union(METHODS.map((m) => Type.Literal(m)), { default: 'dr' })),
  weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, default: 1 })),
  upperThreshold: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
  lowerThreshold: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
}, { additionalProperties: false });

export const ServiceSchema = Type.Object({
  protocol: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('sctp')])),
  address: Type.Optional(Ipv4),
  port: Type.Optional(Port),
  fwmark: Type.Optional(Type.Integer({ minimum: 1, maximum: 4294967295 })),
  scheduler: Type.Optional(Type.Union(SCHEDULERS.map((s) => Type.Literal(s)), { default: 'wlc' })),
  schedFlags: Type.Optional(Type.Array(Type.Union(SCHED_FLAGS.map((f) => Type.Literal(f))), { uniqueItems: true })),
  persistence: Type.Optional(Type.Object({
    timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 2678400, default: 360 })),
    netmask: Type.Optional(Ipv4),
  }, { additionalProperties: false })),
  onePacket: Type.Optional(Type.Boolean()),
  mhTableSize: Type.Optional(Type.Union([251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071].map((n) => Type.Literal(n)))),
  realServers: Type.Optional(Type.Array(RealServerSchema)),
}, { additionalProperties: false });

export const MatchRuleSchema = Type.Object({
  prefix: Cidr,
  protocol: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('sctp')])),
  ports: Type.Optional(Type.String({ pattern: '^[0-9]+(-[0-9]+)?$', description: 'port or low-high' })),
  mark: Type.Integer({ minimum: 1, maximum: 4294967295 }),
}, { additionalProperties: false });

export const PortSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 32, pattern: '^[A-Za-z0-9_.-]+$' }),
  device: Type.String({ minLength: 1, description: 'PCI address (vfio-pci) or DPDK vdev string' }),
  address: Type.Optional(Cidr),
  tap: Type.Optional(Type.Union([Type.Literal(false), Type.String({ minLength: 1, maxLength: 15, pattern: '^[A-Za-z0-9_.-]+$' })], {
    description: 'kernel interface (TAP) for the host\'s own traffic on this port; default: the port name; false: none',
  })),
}, { additionalProperties: false });

export const DataplaneSchema = Type.Object({
  eal: Type.Optional(Type.Array(Type.String())),
  workers: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 1023 }), { minItems: 1 })),
  connTableSize: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1 << 30 })),
  maxServices: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 1024 })),
  maxRealServers: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 8192 })),
  idleBackoff: Type.Optional(Type.Union([Type.Literal(false), Type.Object({
    pauseAfterPolls: Type.Optional(Type.Integer({ minimum: 1 })),
    maxSleepMicroseconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
  }, { additionalProperties: false })])),
  ports: Type.Array(PortSchema, { minItems: 1 }),
  routes: Type.Optional(Type.Array(Type.Object({
    prefix: Cidr,
    via: Type.Optional(Ipv4),
    port: Type.Optional(Type.String()),
  }, { additionalProperties: false }))),
}, { additionalProperties: false });

export const ConfigSchema = Type.Object({
  dataplane: DataplaneSchema,
  localAddresses: Type.Optional(Type.Array(Ipv4)),
  tunnelSource: Type.Optional(Ipv4),
  timeouts: Type.Optional(Type.Object({
    tcp: Type.Optional(Type.Integer({ minimum: 1 })),
    tcpfin: Type.Optional(Type.Integer({ minimum: 1 })),
    udp: Type.Optional(Type.Integer({ minimum: 1 })),
  }, { additionalProperties: false })),
  services: Type.Optional(Type.Array(ServiceSchema)),
  matchRules: Type.Optional(Type.Array(MatchRuleSchema)),
  stateDir: Type.Optional(Type.String()),
}, { additionalProperties: false });

export type RealServerConfig = Static<typeof RealServerSchema>;
export type ServiceConfig = Static<typeof ServiceSchema>;
export type MatchRuleConfig = Static<typeof MatchRuleSchema>;
export type FulcrumConfig = Static<typeof ConfigSchema>;
