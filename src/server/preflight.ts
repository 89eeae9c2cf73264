// What `fulcrum serve` checks on the host before it opens anything, so the common mistakes
// are named with their fix instead of surfacing as DPDK's errno ("Operation not permitted" for
// a missing interface and for a missing privilege alike, "Bad address" for `device: eth7`):
// the API's address free, the state directory writable, each port's interface present and
// the privileges its driver needs held, hugepages where the EAL arguments ask for them.
// Pure over `HostFacts`, so each rule is tested without the host it describes.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { FulcrumConfig } from '../control/config_schema';
import { isInterfaceName, isPci, portDevice } from '../control/dataplane_options';
import { inUseBy, lockHolder } from '../control/state_store';

/** What the checks read from the machine. */
export interface HostFacts {
  /** Network interface names (/sys/class/net). */
  interfaces: Set<string>;
  /** The process's effective capabilities (/proc/self/status CapEff). */
  capEff: bigint;
  /** /proc/mounts. */
  mounts: string;
  /** HugePages_Free from /proc/meminfo. */
  hugePagesFree: number;
}

const CAP_NET_ADMIN = 12n;
const CAP_NET_RAW = 13n;
const CAP_SYS_ADMIN = 21n;
const has = (f: HostFacts, cap: bigint) => ((f.capEff >> cap) & 1n) === 1n;

export function hostFacts(): HostFacts {
  // a file this kernel does not have (or hides) is an empty one; anything else is a real error
  const absent = (e: unknown) => ['ENOENT', 'EACCES', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '');
  const read = (f: string) => {
    try { return fs.readFileSync(f, 'utf8'); } catch (e) { if (absent(e)) return ''; throw e; }
  };
  let interfaces: string[] = [];
  try { interfaces = fs.readdirSync('/sys/class/net'); } catch (e) { if (!absent(e)) throw e; }
  const cap = /^CapEff:\s*([0-9a-f]+)$/m.exec(read('/proc/self/status'));
  const free = /^HugePages_Free:\s*(\d+)/m.exec(read('/proc/meminfo'));
  return { interfaces: new Set(interfaces), capEff: cap ? BigInt(`0x${cap[1]}`) : 0n, mounts: read('/proc/mounts'),
    hugePagesFree: free ? Number(free[1]) : 0 };
}

const driverOf = (device: string) => device.split(',')[0].replace(/\d+$/, '');
const ifaceArg = (device: string) => /(?:^|,)iface=([^,]+)/.exec(device)?.[1];

/** Every problem the host has with this config, each with its fix (empty: go ahead). */
export function hostProblems(cfg: FulcrumConfig, f: HostFacts): string[] {
  const problems: string[] = [];
  cfg.dataplane.ports.forEach((p, i) => {
    const at = `dataplane.ports[${i}] '${p.name}'`;
    const device = portDevice(p, i);
    if (isInterfaceName(p.device) && !f.interfaces.has(p.device)) {
      problems.push(`${at}: device '${p.device}': no network interface of that name here (ip link show); name an existing ` +
        'interface (device: eth0 means net_af_packet on it), or a DPDK device: net_af_packet0,iface=eth0, ' +
        'net_af_xdp0,iface=eth0, or a PCI address (0000:01:00.0) bound to vfio-pci');
      return;
    }
    const driver = driverOf(device);
    const iface = ifaceArg(device);
    if ((driver.startsWith('net_af_packet') || driver.startsWith('net_af_xdp')) && iface !== undefined && !f.interfaces.has(iface))
      problems.push(`${at}: device '${p.device}': no network interface '${iface}' here (ip link show)`);
    const needs: Array<[bigint, string, string]> = [];
    if (driver.startsWith('net_af_packet')) needs.push([CAP_NET_RAW, 'CAP_NET_RAW', 'af_packet opens a raw socket']);
    if (driver.startsWith('net_af_xdp')) needs.push([CAP_NET_RAW, 'CAP_NET_RAW', 'af_xdp opens an XDP socket'], [CAP_SYS_ADMIN, 'CAP_SYS_ADMIN', 'af_xdp loads an XDP program']);
    if (driver.startsWith('net_tap')) needs.push([CAP_NET_ADMIN, 'CAP_NET_ADMIN', 'net_tap creates a kernel interface']);
    if (isPci(device)) needs.push([CAP_SYS_ADMIN, 'CAP_SYS_ADMIN', 'a PCI port maps the device through vfio']);
    if (p.tap !== false) needs.push([CAP_NET_ADMIN, 'CAP_NET_ADMIN', `its kernel interface '${p.tap ?? p.name}' is a TAP (tap: false for none)`]);
    for (const [cap, name, why] of needs)
      if (!has(f, cap)) problems.push(`${at}: needs ${name} (${why}); run fulcrum serve as root`);
  });
  const eal = cfg.dataplane.eal ?? [];
  const hugeDir = eal.indexOf('--huge-dir');
  if (hugeDir >= 0 && !eal.includes('--no-huge')) {
    const dir = eal[hugeDir + 1] ?? '';
    const mounted = f.mounts.split('\n').some((l) => { const w = l.split(' '); return w[2] === 'hugetlbfs' && path.resolve(w[1] ?? '') === path.resolve(dir); });
    if (!mounted) problems.push(`dataplane.eal: --huge-dir ${dir} is not a mounted hugetlbfs (mount -t hugetlbfs nodev ${dir}), or leave --huge-dir out`);
  }
  if ((eal.includes('--huge-dir') || eal.includes('--legacy-mem')) && !eal.includes('--no-huge') && f.hugePagesFree === 0)
    problems.push('dataplane.eal: hugepages are asked for but none is free (echo 1024 > /proc/sys/vm/nr_hugepages), or leave the hugepage options out: without free hugepages Fulcrum runs on 4 KiB pages');
  return problems;
}

/** The state directory can be made and written, or why not with its fix. */
export function stateDirProblem(dir: string): string | undefined {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.R_OK | fs.constants.X_OK);
    const holder = lockHolder(dir);
    return holder === undefined ? undefined : inUseBy(dir, holder);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return `state directory ${dir}: ${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : code}` +
      ' (run fulcrum serve as root, or give --state-dir a directory it can write)';
  }
}

/** The API's address is free: found before any port is opened, not after. */
export function apiAddressProblem(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', (e: NodeJS.ErrnoException) => {
      resolve(`api.listen ${host}:${port}: ${e.code === 'EADDRINUSE' ? 'address already in use (another fulcrum serve? ss -ltnp)'
        : e.code === 'EADDRNOTAVAIL' ? 'no interface of this machine has that address' : e.code === 'EACCES' ? 'permission denied (a port below 1024 needs root)' : e.message}`);
    });
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}
