// Connection sync between directors, with real traffic: a connection made through one
// director is known to the other, which carries it on after the VIP moves there. Fulcrum with
// Fulcrum, and Fulcrum with the real Linux IPVS (its own sync daemon, in a QEMU VM from
// test/peers/lvs-kernel-vm) both ways. The kernel tests skip, saying why, where QEMU is missing.
// IPv6 connections alike: they travel as the kernel's IPv6 records, between Fulcrums and with
// the kernel both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cannotRun, root, run } from './harness';
import { Serve } from './serve_harness';
import { CLIENT, CLIENT6, HeldConnection, PairTopology, SERVER, SERVER6, VIP, VIP6, VM_ADDR, VM_ADDR6, directorAddr, directorAddr6 } from '../../src/tools/pair_topology';

const skip = cannotRun();
const vmTool = path.join(root, 'test/peers/lvs-kernel-vm');
const vmWork = process.env.LVSVM_WORK ?? '/var/tmp/lvs-kernel-vm';
const noQemu = run('bash', ['-c', 'command -v qemu-system-x86_64']).status !== 0 ? 'qemu-system-x86_64 is missing (scripts/setup installs it)' : undefined;

function director(t: PairTopology, d: 'A' | 'B', api: number, sync: object, ipv6 = false): Serve {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-sync-'));
  const cfg = path.join(dir, 'fulcrum.json');
  fs.writeFileSync(cfg, JSON.stringify(t.directorConfig(d, api, sync, undefined, ipv6)));
  return new Serve(cfg, path.join(dir, 'state'), ['ip', 'netns', 'exec', t.ns(`d${d}`)]);
}

/** GET from a director's API, which listens on loopback in the director's namespace. */
function getIn(t: PairTopology, d: 'A' | 'B', api: number, p: string): any {
  const r = run('ip', ['netns', 'exec', t.ns(`d${d}`), 'curl', '-sf', `http://127.0.0.1:${api}${p}`]);
  if (r.status !== 0) throw new Error(`GET ${p} from director ${d} failed (curl ${r.status}) ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const macOf = (t: PairTopology, d: 'A' | 'B', api: number): string =>
  (getIn(t, d, api, '/v1/dataplane').ports as Array<{ name: string; mac: string }>).find((p) => p.name === 'outside')!.mac;

/** Waits (bounded) for `what` to return a value. */
async function eventually<T>(what: () => Promise<T | undefined>, seconds: number, failure: () => string): Promise<T> {
  for (let i = 0; i < seconds * 5; i++) {
    const v = await what();
    if (v !== undefined) return v;
    await sleep(200);
  }
  throw new Error(failure());
}

interface Listed { source: string; destination: string; state: string; synced?: boolean }
const connectionsOf = async (t: PairTopology, d: 'A' | 'B', api: number, client = CLIENT) =>
  getIn(t, d, api, `/v1/connections?client=${encodeURIComponent(client)}`).connections as Listed[];

/** Five lines through whoever holds the VIP now; each must come back echoed. */
async function talk(c: HeldConnection, tag: string): Promise<void> {
  for (let i = 0; i < 5; i++) assert.equal(await c.say(`${tag} ${i}`), `echo ${tag} ${i}`);
}

class KernelVm {
  readonly env: NodeJS.ProcessEnv;
  constructor(readonly name: string, lan: string) {
    this.env = { ...process.env, LVSVM_WORK: vmWork, LVSVM_NAME: name, LVSVM_NS0: lan, LVSVM_NS1: lan,
      LVSVM_ETH0: `${VM_ADDR.c}/24`, LVSVM_ETH1: `${VM_ADDR.s}/24`, LVSVM_VIPS: VIP };
  }
  private tool(cmd: string[], timeout = 150000) {
    const r = spawnSync(path.join(vmTool, cmd[0]), cmd.slice(1), { env: this.env, encoding: 'utf8', timeout });
    return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  }
  start(): void {
    if (!fs.existsSync(path.join(vmWork, 'build/initrd.cpio.gz'))) {
      const b = this.tool(['build.sh'], 300000);
      if (b.status !== 0) throw new Error(`building the VM failed: ${b.out}`);
    }
    const r = this.tool(['run.sh', 'start']);
    if (r.status !== 0) throw new Error(`the VM did not boot: ${r.out}`);
  }
  sh(line: string): string {
    const r = this.tool(['vmctl.py', line], 70000);
    if (r.status !== 0) throw new Error(`VM: ${line}: ${r.out}`);
    return r.out;
  }
  stop(): void { this.tool(['run.sh', 'stop']); }
}

test('Fulcrum to Fulcrum: the backup lists the master\'s connection and carries it after the VIP moves', { skip, timeout: 120000 }, async () => {
  const t = new PairTopology('syf');
  t.up();
  const a = director(t, 'A', 19601, { daemons: [{ state: 'master', interface: 'outside', syncId: 9 }] });
  const b = director(t, 'B', 19602, { daemons: [{ state: 'backup', interface: 'outside', syncId: 9 }] });
  let c: HeldConnection | undefined;
  try {
    await a.start();
    await b.start();
    const listed = spawnSync('ip', ['netns', 'exec', t.ns('dB'), process.execPath, path.join(root, 'bin/fvsadm.js'), '-L', '--daemon'],
      { encoding: 'utf8', env: { ...process.env, FULCRUM_API: 'http://127.0.0.1:19602' } });
    assert.equal(listed.stdout, 'backup sync daemon (mcast=outside, syncid=9, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n', listed.stderr);
    t.route(macOf(t, 'A', 19601), directorAddr('A').s);
    c = new HeldConnection(t.ns('cli'));
    const port = await c.port();
    await talk(c, 'via A');
    const synced = await eventually(async () => (await connectionsOf(t, 'B', 19602)).find((x) => x.source === `${CLIENT}:${port}`), 10,
      () => `the backup never listed ${CLIENT}:${port}:\n${b.out.slice(-2000)}`);
    assert.equal(synced.destination, `${SERVER}:80`);
    assert.equal(synced.state, 'ESTABLISHED');
    assert.equal(synced.synced, true);
    // The master dies; the VIP and the servers' gateway move to B.
    await a.stop('SIGKILL');
    t.route(macOf(t, 'B', 19602), directorAddr('B').s);
    await talk(c, 'via B');
  } finally {
    c?.close();
    await a.stop('SIGKILL');
    await b.stop();
    t.down();
  }
});

test('Fulcrum to Fulcrum, IPv6: the backup lists the master\'s IPv6 connection and carries it after the VIP moves', { skip, timeout: 120000 }, async () => {
  const t = new PairTopology('sy6');
  t.up();
  const a = director(t, 'A', 19611, { daemons: [{ state: 'master', interface: 'outside', syncId: 9 }] }, true);
  const b = director(t, 'B', 19612, { daemons: [{ state: 'backup', interface: 'outside', syncId: 9 }] }, true);
  let c: HeldConnection | undefined;
  try {
    await a.start();
    await b.start();
    t.route6(macOf(t, 'A', 19611), directorAddr6('A').s);
    c = new HeldConnection(t.ns('cli'), VIP6);
    const port = await c.port();
    await talk(c, 'via A');
    const synced = await eventually(async () => (await connectionsOf(t, 'B', 19612, CLIENT6)).find((x) => x.source === `[${CLIENT6}]:${port}`), 10,
      () => `the backup never listed [${CLIENT6}]:${port}: ${JSON.stringify(getIn(t, 'B', 19612, '/v1/sync'))}\n${b.out.slice(-2000)}`);
    assert.equal(synced.destination, `[${SERVER6}]:80`);
    assert.equal(synced.state, 'ESTABLISHED');
    assert.equal(synced.synced, true);
    await a.stop('SIGKILL');
    t.route6(macOf(t, 'B', 19612), directorAddr6('B').s);
    await talk(c, 'via B');
  } finally {
    c?.close();
    await a.stop('SIGKILL');
    await b.stop();
    t.down();
  }
});

test('kernel IPVS master to Fulcrum backup: the kernel\'s connection goes on through Fulcrum', { skip: skip ?? noQemu, timeout: 300000 }, async () => {
  const t = new PairTopology('syk');
  t.up();
  const vm = new KernelVm('syk1', t.ns('lan'));
  const b = director(t, 'B', 19603, { daemons: [{ state: 'backup', interface: 'outside', syncId: 7 }] });
  let c: HeldConnection | undefined;
  try {
    vm.start();
    t.attachVm('syk10', 'syk11');
    vm.sh(`ipvsadm -A -t ${VIP}:80 -s rr && ipvsadm -a -t ${VIP}:80 -r ${SERVER}:80 -m && ipvsadm --start-daemon master --mcast-interface eth0 --syncid 7`);
    await b.start();
    t.route(vm.sh('cat /sys/class/net/eth0/address').trim(), VM_ADDR.s);
    c = new HeldConnection(t.ns('cli'));
    const port = await c.port();
    await talk(c, 'via the kernel');
    const synced = await eventually(async () => (await connectionsOf(t, 'B', 19603)).find((x) => x.source === `${CLIENT}:${port}`), 15,
      () => `Fulcrum never listed ${CLIENT}:${port}; the kernel has:\n${vm.sh('ipvsadm -Lnc')}\nFulcrum's daemons: ` +
        `${JSON.stringify(getIn(t, 'B', 19603, '/v1/sync'))}\nits drops: ${JSON.stringify(getIn(t, 'B', 19603, '/v1/dataplane').drops)}\n` +
        `its tap: ${run('ip', ['netns', 'exec', t.ns('dB'), 'ip', '-s', 'link', 'show', 'sykBk']).stdout}\n` +
        `its kernel: ${run('ip', ['netns', 'exec', t.ns('dB'), 'nstat', '-az', 'UdpInCsumErrors', 'UdpInErrors', 'UdpInDatagrams', 'UdpNoPorts', 'IpInHdrErrors', 'IpInAddrErrors']).stdout}\n${b.out.slice(-2000)}`);
    assert.deepEqual([synced.destination, synced.state, synced.synced], [`${SERVER}:80`, 'ESTABLISHED', true]);
    vm.stop();
    t.route(macOf(t, 'B', 19603), directorAddr('B').s);
    await talk(c, 'via Fulcrum');
  } finally {
    c?.close();
    vm.stop();
    await b.stop();
    t.down();
  }
});

test('Fulcrum master to kernel IPVS backup: the kernel lists Fulcrum\'s connection and carries it on', { skip: skip ?? noQemu, timeout: 300000 }, async () => {
  const t = new PairTopology('syl');
  t.up();
  const vm = new KernelVm('syl1', t.ns('lan'));
  const a = director(t, 'A', 19604, { daemons: [{ state: 'master', interface: 'outside', syncId: 4 }] });
  let c: HeldConnection | undefined;
  try {
    vm.start();
    t.attachVm('syl10', 'syl11');
    vm.sh(`ipvsadm -A -t ${VIP}:80 -s rr && ipvsadm -a -t ${VIP}:80 -r ${SERVER}:80 -m && ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 4`);
    await a.start();
    t.route(macOf(t, 'A', 19604), directorAddr('A').s);
    c = new HeldConnection(t.ns('cli'));
    const port = await c.port();
    await talk(c, 'via Fulcrum');
    const want = new RegExp(`^TCP\\s+\\S+\\s+ESTABLISHED\\s+${CLIENT}:${port}\\s+${VIP}:80\\s+${SERVER}:80\\s*$`, 'm');
    await eventually(async () => (want.test(vm.sh('ipvsadm -Lnc')) ? true : undefined), 15,
      () => `the kernel never listed ${CLIENT}:${port}:\n${vm.sh('ipvsadm -Lnc')}\n${a.out.slice(-2000)}`);
    await a.stop('SIGKILL');
    t.route(vm.sh('cat /sys/class/net/eth0/address').trim(), VM_ADDR.s);
    await talk(c, 'via the kernel');
  } finally {
    c?.close();
    vm.stop();
    await a.stop('SIGKILL');
    t.down();
  }
});

/** The kernel VM as an IPv6 director too: addresses on both links, forwarding, the IPv6 VIP. */
function vmIpv6(vm: KernelVm): void {
  // (busybox's ip has no nodad: duplicate address detection is turned off per link instead.)
  vm.sh('echo 1 > /proc/sys/net/ipv6/conf/all/forwarding && echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad && ' +
    'echo 0 > /proc/sys/net/ipv6/conf/eth1/accept_dad');
  vm.sh(`ip -6 addr add ${VM_ADDR6.c}/64 dev eth0 && ip -6 addr add ${VM_ADDR6.s}/64 dev eth1 && ip -6 addr add ${VIP6}/128 dev eth0`);
}

test('kernel IPVS master to Fulcrum backup, IPv6: the kernel\'s IPv6 connection goes on through Fulcrum', { skip: skip ?? noQemu, timeout: 300000 }, async () => {
  const t = new PairTopology('syk6');
  t.up();
  const vm = new KernelVm('syk6', t.ns('lan'));
  const b = director(t, 'B', 19613, { daemons: [{ state: 'backup', interface: 'outside', syncId: 7 }] }, true);
  let c: HeldConnection | undefined;
  try {
    vm.start();
    t.attachVm('syk60', 'syk61');
    vmIpv6(vm);
    vm.sh(`ipvsadm -A -t [${VIP6}]:80 -s rr && ipvsadm -a -t [${VIP6}]:80 -r [${SERVER6}]:80 -m && ipvsadm --start-daemon master --mcast-interface eth0 --syncid 7`);
    await b.start();
    t.route6(vm.sh('cat /sys/class/net/eth0/address').trim(), VM_ADDR6.s);
    c = new HeldConnection(t.ns('cli'), VIP6);
    const port = await c.port();
    await talk(c, 'via the kernel');
    const synced = await eventually(async () => (await connectionsOf(t, 'B', 19613, CLIENT6)).find((x) => x.source === `[${CLIENT6}]:${port}`), 15,
      () => `Fulcrum never listed [${CLIENT6}]:${port}; the kernel has:\n${vm.sh('ipvsadm -Lnc')}\nFulcrum's daemons: ` +
        `${JSON.stringify(getIn(t, 'B', 19613, '/v1/sync'))}\n${b.out.slice(-2000)}`);
    assert.deepEqual([synced.destination, synced.state, synced.synced], [`[${SERVER6}]:80`, 'ESTABLISHED', true]);
    vm.stop();
    t.route6(macOf(t, 'B', 19613), directorAddr6('B').s);
    await talk(c, 'via Fulcrum');
  } finally {
    c?.close();
    vm.stop();
    await b.stop();
    t.down();
  }
});

test('Fulcrum master to kernel IPVS backup, IPv6: the kernel lists Fulcrum\'s IPv6 connection and carries it on', { skip: skip ?? noQemu, timeout: 300000 }, async () => {
  const t = new PairTopology('syl6');
  t.up();
  const vm = new KernelVm('syl6', t.ns('lan'));
  const a = director(t, 'A', 19614, { daemons: [{ state: 'master', interface: 'outside', syncId: 4 }] }, true);
  let c: HeldConnection | undefined;
  try {
    vm.start();
    t.attachVm('syl60', 'syl61');
    vmIpv6(vm);
    vm.sh(`ipvsadm -A -t [${VIP6}]:80 -s rr && ipvsadm -a -t [${VIP6}]:80 -r [${SERVER6}]:80 -m && ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 4`);
    await a.start();
    t.route6(macOf(t, 'A', 19614), directorAddr6('A').s);
    c = new HeldConnection(t.ns('cli'), VIP6);
    const port = await c.port();
    await talk(c, 'via Fulcrum');
    const want = new RegExp(`^TCP\\s+\\S+\\s+ESTABLISHED\\s+\\[${CLIENT6}\\]:${port}\\s+\\[${VIP6}\\]:80\\s+\\[${SERVER6}\\]:80\\s*$`, 'm');
    await eventually(async () => (want.test(vm.sh('ipvsadm -Lnc')) ? true : undefined), 15,
      () => `the kernel never listed [${CLIENT6}]:${port}:\n${vm.sh('ipvsadm -Lnc')}\n${a.out.slice(-2000)}`);
    await a.stop('SIGKILL');
    t.route6(vm.sh('cat /sys/class/net/eth0/address').trim(), VM_ADDR6.s);
    await talk(c, 'via the kernel');
  } finally {
    c?.close();
    vm.stop();
    await a.stop('SIGKILL');
    t.down();
  }
});
