// ha.vrrp as keepalived takes it: the section's problems (`fulcrum check` and serve refuse a
// config with any), its settings with the defaults filled in, and the keepalived.conf that
// `fulcrum serve` writes into the state directory. keepalived only decides who is MASTER: its
// instance carries no virtual_ipaddress, because the VIPs live in the dataplane, which
// answers ARP for them (and sends the gratuitous ARP) only while this director is MASTER.
// The kernel interface keepalived runs on is the port's TAP: its adverts leave through the
// dataplane's exception path and the peer's reach keepalived the same way.
import type { FulcrumConfig, VrrpConfig } from '../control/config_schema';
import { canonicalAddress, familyOf } from '../control/address';
import { ipv6UnicastProblem } from '../control/ipv6';

export interface VrrpSettings {
  /** The Fulcrum port and its kernel interface (TAP), where the adverts go. */
  port: string;
  iface: string;
  /** The port's own address: the adverts' source. */
  source: string;
  virtualRouterId: number;
  priority: number;
  advertInt: number;
  /** 2 for whole-second adverts, 3 for fractions (VRRPv2 counts whole seconds). */
  version: 2 | 3;
  preempt: boolean;
  preemptDelay: number;
  password?: string;
  unicastPeers: string[];
  /** By port name. */
  floating: Map<string, string[]>;
}

const portTap = (p: FulcrumConfig['dataplane']['ports'][number]) => (p.tap === false ? undefined : p.tap ?? p.name);
const hostOf = (cidr: string | undefined) => cidr?.split('/')[0];

/** Every problem of the config's ha.vrrp (none without one), by its path. */
export function vrrpProblems(cfg: FulcrumConfig): string[] {
  const v = cfg.ha?.vrrp;
  if (!v) return [];
  const out: string[] = [];
  const ports = new Map(cfg.dataplane.ports.map((p) => [p.name, p]));
  const port = ports.get(v.port);
  if (!port) {
    out.push(`ha.vrrp.port: no port named '${v.port}'`);
  } else {
    if (portTap(port) === undefined) out.push(`ha.vrrp.port: port '${v.port}' has no kernel interface (tap: false); keepalived needs one for its adverts`);
    if (port.address === undefined) out.push(`ha.vrrp.port: port '${v.port}' has no address; the adverts need a source address`);
  }
  const advert = v.advertInt ?? 1;
  if (!Number.isInteger(advert)) {
    if (advert > 40.95) out.push('ha.vrrp.advertInt: a fraction of a second means VRRP version 3, which counts up to 40.95 s');
    if (v.authentication) out.push('ha.vrrp.authentication: VRRP version 3 (a fractional advertInt) has no authentication; use whole seconds or drop it');
  }
  const own = hostOf(port?.address);
  (v.unicastPeers ?? []).forEach((a, i) => {
    if (a === own) out.push(`ha.vrrp.unicastPeers[${i}]: ${a} is this director's own address on port '${v.port}'`);
  });
  if (new Set(v.unicastPeers ?? []).size !== (v.unicastPeers ?? []).length) out.push('ha.vrrp.unicastPeers: an address is listed twice');
  const seen = new Set<string>();
  (v.floatingAddresses ?? []).forEach((f, i) => {
    const at = `ha.vrrp.floatingAddresses[${i}]`;
    const p = ports.get(f.port);
    if (!p) out.push(`${at}.port: no port named '${f.port}'`);
    const a = canonicalAddress(f.address) ?? f.address;
    for (const q of cfg.dataplane.ports)
      if ([q.address, ...(q.address6 ?? [])].some((c) => c !== undefined && canonicalAddress(hostOf(c)!) === a))
        out.push(`${at}.address: ${f.address} is port '${q.name}''s own address, which never moves`);
    const v6problem = familyOf(a) === 6 ? ipv6UnicastProblem(a, 'service') : undefined;
    if (v6problem) out.push(`${at}.address: ${v6problem}`);
    if (seen.has(a)) out.push(`${at}.address: ${f.address} is listed twice`);
    seen.add(a);
  });
  return out;
}

/** The settings of a config's ha.vrrp (checked by vrrpProblems), or undefined without one. */
export function vrrpSettings(cfg: FulcrumConfig): VrrpSettings | undefined {
  const v: VrrpConfig | undefined = cfg.ha?.vrrp;
  if (!v) return undefined;
  const port = cfg.dataplane.ports.find((p) => p.name === v.port);
  if (!port || portTap(port) === undefined || port.address === undefined) throw new Error(vrrpProblems(cfg).join('; '));
  const advertInt = v.advertInt ?? 1;
  const floating = new Map<string, string[]>();
  for (const f of v.floatingAddresses ?? []) floating.set(f.port, [...(floating.get(f.port) ?? []), f.address]);
  return {
    port: v.port,
    iface: portTap(port)!,
    source: hostOf(port.address)!,
    virtualRouterId: v.virtualRouterId,
    priority: v.priority ?? 100,
    advertInt,
    version: Number.isInteger(advertInt) ? 2 : 3,
    preempt: v.preempt ?? true,
    preemptDelay: v.preemptDelay ?? 0,
    ...(v.authentication ? { password: v.authentication.password } : {}),
    unicastPeers: v.unicastPeers ?? [],
    floating,
  };
}

/** The name of the one VRRP instance (what keepalived's notify_fifo lines carry). */
export const INSTANCE = 'fulcrum';

/**
 * keepalived.conf for these settings. `fifo` is where keepalived writes each state change
 * ("INSTANCE "fulcrum" MASTER 100"); `trackFile` holds 0 while this director is fit to be
 * MASTER and 1 when it is not (dataplane down, port down, drained): with weight 0 a non-zero
 * value puts the instance in FAULT, so the peer takes the VIPs at once.
 */
export function keepalivedConfig(s: VrrpSettings, paths: { fifo: string; trackFile: string }): string {
  const lines = [
    '# Written by fulcrum serve from ha.vrrp at every start: edits here are overwritten.',
    '# keepalived decides MASTER/BACKUP; Fulcrum\'s dataplane holds the VIPs (no virtual_ipaddress).',
    'global_defs {',
    `  router_id fulcrum-${s.iface}`,
    `  notify_fifo "${paths.fifo}"`,
    '}',
    '',
    'track_file fulcrum_health {',
    `  file "${paths.trackFile}"`,
    '  weight 0',
    '}',
    '',
    `vrrp_instance ${INSTANCE} {`,
    // Always BACKUP at start: a director that comes up waits to hear a master before taking
    // the VIPs (3 x advert_int + skew), and nopreempt/preempt_delay need it.
    '  state BACKUP',
    `  interface ${s.iface}`,
    `  virtual_router_id ${s.virtualRouterId}`,
    `  priority ${s.priority}`,
    `  advert_int ${s.advertInt}`,
    ...(s.version === 3 ? ['  version 3'] : []),
    ...(s.preempt ? [] : ['  nopreempt']),
    ...(s.preemptDelay > 0 ? [`  preempt_delay ${s.preemptDelay}`] : []),
    ...(s.password !== undefined ? ['  authentication {', '    auth_type PASS', `    auth_pass "${s.password}"`, '  }'] : []),
    ...(s.unicastPeers.length ? [`  unicast_src_ip ${s.source}`, '  unicast_peer {', ...s.unicastPeers.map((p) => `    ${p}`), '  }'] : []),
    '  track_file {',
    '    fulcrum_health',
    '  }',
    '}',
    '',
  ];
  return lines.join('\n');
}
