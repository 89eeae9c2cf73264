// What `fulcrum serve` says before it opens anything: each common mistake named with its fix,
// where DPDK alone would answer with an errno ("Operation not permitted", "Bad address").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FulcrumConfig } from '../../src/control/config_schema';
import { dataplaneOptions } from '../../src/control/dataplane_options';
import { apiAddressProblem, hostProblems, stateDirProblem, type HostFacts } from '../../src/server/preflight';

const ROOT = (1n << 41n) - 1n;  // every capability
const host = (over: Partial<HostFacts> = {}): HostFacts =>
  ({ interfaces: new Set(['lo', 'eth0', 'ens1f0']), capEff: ROOT, mounts: '', hugePagesFree: 0, ...over });
const cfg = (ports: FulcrumConfig['dataplane']['ports'], eal: string[] = []): FulcrumConfig =>
  ({ dataplane: { eal, ports } } as FulcrumConfig);

test('a plain interface name is af_packet on it; one that does not exist is refused with the syntax to use', () => {
  const c = cfg([{ name: 'outside', device: 'eth0', tap: false }, { name: 'inside', device: 'net_null0', tap: false }]);
  assert.deepEqual(hostProblems(c, host()), []);
  assert.deepEqual(dataplaneOptions(c).ports.map((p) => p.device), ['net_af_packet_p0,iface=eth0', 'net_null0']);
  const [p] = hostProblems(cfg([{ name: 'outside', device: 'eth7', tap: false }]), host());
  assert.match(p, /^dataplane\.ports\[0\] 'outside': device 'eth7': no network interface of that name here/);
  assert.match(p, /net_af_packet0,iface=eth0/);
  assert.match(p, /0000:01:00\.0/);
});

test('an af_packet or af_xdp port on a missing interface is named as such, not as a permission problem', () => {
  const problems = hostProblems(cfg([{ name: 'b', device: 'net_af_packet0,iface=nosuchif', tap: false }]), host());
  assert.deepEqual(problems, ["dataplane.ports[0] 'b': device 'net_af_packet0,iface=nosuchif': no network interface 'nosuchif' here (ip link show)"]);
  assert.equal(hostProblems(cfg([{ name: 'b', device: 'net_af_xdp0,iface=ens1f0', tap: false }]), host()).length, 0);
});

test('without root, the privilege each port needs is named; net_null ports without a TAP need none', () => {
  const user = host({ capEff: 0n });
  assert.deepEqual(hostProblems(cfg([{ name: 'a', device: 'net_null0', tap: false }]), user), []);
  const problems = hostProblems(cfg([{ name: 'a', device: 'net_af_packet0,iface=eth0', tap: false }, { name: 'b', device: 'net_null1' }]), user);
  assert.deepEqual(problems, [
    "dataplane.ports[0] 'a': needs CAP_NET_RAW (af_packet opens a raw socket); run fulcrum serve as root",
    "dataplane.ports[1] 'b': needs CAP_NET_ADMIN (its kernel interface 'b' is a TAP (tap: false for none)); run fulcrum serve as root",
  ]);
  assert.match(hostProblems(cfg([{ name: 'p', device: '0000:01:00.0', tap: false }]), user)[0], /CAP_SYS_ADMIN \(a PCI port/);
});

test('hugepages asked for but not mounted or not reserved: said with the command that fixes it', () => {
  const ports = [{ name: 'a', device: 'net_null0', tap: false as const }];
  assert.match(hostProblems(cfg(ports, ['--huge-dir', '/mnt/huge']), host({ hugePagesFree: 512 }))[0],
    /--huge-dir \/mnt\/huge is not a mounted hugetlbfs \(mount -t hugetlbfs nodev \/mnt\/huge\)/);
  assert.deepEqual(hostProblems(cfg(ports, ['--huge-dir', '/mnt/huge']), host({ hugePagesFree: 512, mounts: 'nodev /mnt/huge hugetlbfs rw 0 0\n' })), []);
  assert.match(hostProblems(cfg(ports, ['--legacy-mem']), host())[0], /none is free \(echo 1024 > \/proc\/sys\/vm\/nr_hugepages\)/);
  assert.deepEqual(hostProblems(cfg(ports, []), host()), [], 'no hugepage options: 4 KiB pages, no problem');
});

test('a state directory that cannot be written is named as such', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-preflight-'));
  assert.equal(stateDirProblem(path.join(dir, 'state')), undefined);
  fs.writeFileSync(path.join(dir, 'file'), '');
  assert.match(stateDirProblem(path.join(dir, 'file', 'state'))!, /^state directory .*file\/state: ENOTDIR .*--state-dir/);
  // another live director's lock: named with its pid; a dead one's is not a problem
  fs.writeFileSync(path.join(dir, 'state', 'lock'), `${process.ppid}\n`);
  assert.match(stateDirProblem(path.join(dir, 'state'))!, new RegExp(`in use by another director \\(pid ${process.ppid}, see .*lock\\)`));
  fs.writeFileSync(path.join(dir, 'state', 'lock'), '999999999\n');
  assert.equal(stateDirProblem(path.join(dir, 'state')), undefined);
});

test('an API address in use is found before anything starts', async () => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  assert.match((await apiAddressProblem('127.0.0.1', port))!, new RegExp(`^api.listen 127.0.0.1:${port}: address already in use`));
  await new Promise((r) => s.close(r));
  assert.equal(await apiAddressProblem('127.0.0.1', port), undefined);
});
