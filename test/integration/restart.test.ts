// Restarts that keep connections, with real traffic: a director on af_packet ports in its own
// namespace (pair_topology's director A; B is not started) forwards a transfer through a NAT
// and a FullNAT service; `fulcrum serve` is stopped with SIGTERM mid-transfer and started
// again, and both transfers complete byte for byte, the restored connections listed by
// `fvsadm -Lnc`; a start with two workers instead of one puts each where steering sends it. A corrupt connections file is refused (logged) and the director starts empty;
// after kill -9 there is no file and the next start says so. IPv6 alike: an IPv6 NAT transfer
// and a NAT64 one (IPv6 client, IPv4 server) survive the restart byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cannotRun, root, run } from './harness';
import { Serve } from './serve_harness';
import { CLIENT, NsScript, PairTopology, SERVER, SERVER6, VIP, VIP6, directorAddr, directorAddr6 } from '../../src/tools/pair_topology';

const skip = cannotRun();
const API = 18391;
const LADDR = '198.18.42.250';  // FullNAT's local address, on the servers' segment

function getIn(t: PairTopology, p: string): any {
  const r = run('ip', ['netns', 'exec', t.ns('dA'), 'curl', '-sf', `http://127.0.0.1:${API}${p}`]);
  if (r.status !== 0) throw new Error(`GET ${p} failed (curl ${r.status}) ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A transfer from the client namespace: lines written every 10 ms (and echoed by the server)
 * until told to end; then it waits for every echo and says whether the bytes back are exactly
 * the bytes sent. */
class Transfer {
  private readonly script: NsScript;
  constructor(ns: string, port: number, sourcePort = 0, vip = VIP) {
    this.script = new NsScript(ns, `
import socket, sys, threading, time
s = socket.create_connection(("${vip}", ${port}), timeout=90, source_address=("${vip.includes(':') ? '::' : '0.0.0.0'}", ${sourcePort}))
print("port", s.getsockname()[1], flush=True)
sent = bytearray(); got = bytearray(); stop = False; lock = threading.Lock()
def writer():
    i = 0
    while not stop:
        line = b"%07d " % i + bytes((i * 7 + k) % 26 + 97 for k in range(200)) + b"\\n"
        with lock:
            sent.extend(b"echo " + line)
        s.sendall(line)
        i += 1
        time.sleep(0.01)
def reader():
    while True:
        b = s.recv(65536)
        if not b:
            break
        with lock:
            got.extend(b)
w = threading.Thread(target=writer); w.start()
r = threading.Thread(target=reader, daemon=True); r.start()
for cmd in sys.stdin:
    if cmd.strip() == "status":
        with lock:
            print("got", len(got), "sent", len(sent), flush=True)
        continue
    stop = True
    w.join()
    deadline = time.time() + 90
    while time.time() < deadline:
        with lock:
            if len(got) >= len(sent):
                break
        time.sleep(0.05)
    with lock:
        same = bytes(got) == bytes(sent)
        print("done", "exact" if same else "DIFFERENT", len(sent), len(got), flush=True)
    break
`);
  }
  port(): Promise<number> { return this.script.port(); }
  async received(): Promise<number> {
    this.script.write('status');
    const l = await this.script.next();
    const m = /^got (\d+)/.exec(l);
    if (!m) throw new Error(`no status: ${l}`);
    return Number(m[1]);
  }
  async end(): Promise<string> {
    this.script.write('end');
    return this.script.next();
  }
  kill(): void { this.script.kill(); }
}

/** The worker of n that owns a client's connection (native/dpdk/steer.h owner_of_client, as
 * cross_worker.test.ts computes it). */
function ownerOf(ip: string, port: number, n: number): number {
  const [a, b, c, d] = ip.split('.').map(Number);
  const ipLe = BigInt((a | (b << 8) | (c << 16) | (d << 24)) >>> 0);
  const portLe = BigInt(((port >> 8) | ((port & 0xff) << 8)) & 0xffff);
  const h = (((ipLe << 16n) ^ portLe) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
  return Number(((h >> 32n) * BigInt(n)) >> 32n);
}

/** Director A's config file, with a FullNAT service beside the NAT one; `workers` CPUs. With
 * `ipv6`: the IPv6 VIP's NAT service too (pair_topology's), and a NAT64 one on its port 82. */
function writeConfig(t: PairTopology, file: string, workers: number[], ipv6 = false): void {
  const cfg = t.directorConfig('A', API, {}, undefined, ipv6) as any;
  delete cfg.ha;
  cfg.localAddresses = [LADDR];
  cfg.services.push({ protocol: 'tcp', address: VIP, port: 81, scheduler: 'rr',
    realServers: [{ address: SERVER, port: 80, method: 'fullnat', weight: 1 }] });
  if (ipv6)
    cfg.services.push({ protocol: 'tcp', address: VIP6, port: 82, scheduler: 'rr',
      realServers: [{ address: SERVER, port: 80, method: 'fullnat', weight: 1 }] });
  cfg.dataplane.workers = workers;
  if (workers.length > 1) for (const p of cfg.dataplane.ports) p.device += `,qpairs=${workers.length}`;
  fs.writeFileSync(file, JSON.stringify(cfg));
}

function director(t: PairTopology, ipv6 = false): { serve: Serve; stateDir: string; configFile: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-restart-'));
  const file = path.join(dir, 'fulcrum.json');
  writeConfig(t, file, [1], ipv6);
  const stateDir = path.join(dir, 'state');
  return { serve: new Serve(file, stateDir, ['ip', 'netns', 'exec', t.ns('dA')]), stateDir, configFile: file };
}

async function grows(x: Transfer, what: string): Promise<void> {
  const before = await x.received();
  for (let i = 0; i < 50; i++) {
    await sleep(200);
    if (await x.received() > before) return;
  }
  throw new Error(`${what}: no bytes came back`);
}

test('a transfer through NAT and FullNAT services completes byte-exact across SIGTERM and a new start', { skip, timeout: 240000 }, async () => {
  const t = new PairTopology('frs');
  const { serve, stateDir } = director(t);
  const transfers: Transfer[] = [];
  try {
    t.up();
    await serve.start();
    const mac = (getIn(t, '/v1/dataplane').ports as Array<{ name: string; mac: string }>).find((p) => p.name === 'outside')!.mac;
    t.route(mac, directorAddr('A').s);
    const nat = new Transfer(t.ns('cli'), 80);
    const fnat = new Transfer(t.ns('cli'), 81);
    transfers.push(nat, fnat);
    const natPort = await nat.port();
    const fnatPort = await fnat.port();
    await grows(nat, 'NAT before the restart');
    await grows(fnat, 'FullNAT before the restart');

    await serve.stop('SIGTERM');
    assert.match(serve.out, /"msg":"connections saved: 2"/, serve.out);
    assert.ok(fs.existsSync(path.join(stateDir, 'connections.bin')));
    await sleep(1500);  // down for a while: the transfers' segments are retransmitted meanwhile
    await serve.start();
    assert.match(serve.out, /"msg":"connections restored: 2 of 2"/, serve.out);
    assert.ok(!fs.existsSync(path.join(stateDir, 'connections.bin')), 'the start consumed the file');
    const r = getIn(t, '/v1/dataplane').restart;
    assert.equal(r.restored, 2);
    assert.ok(r.downMs >= 1500, `downMs ${r.downMs}`);
    const m = run('ip', ['netns', 'exec', t.ns('dA'), 'curl', '-sf', `http://127.0.0.1:${API}/metrics`]).stdout;
    assert.match(m, /\nfulcrum_restart_restored_connections 2\n/);
    assert.match(m, /\nfulcrum_restart_skipped_connections\{reason="expired"\} 0\n/);
    const view = run('ip', ['netns', 'exec', t.ns('dA'), 'env', `FULCRUM_API=http://127.0.0.1:${API}`, process.execPath,
      path.join(root, 'bin/fulcrum.js'), 'dataplane']);
    assert.match(view.stdout, /^restart: 2 of 2 connections restored after \d+\.\d s down$/m, view.stdout + view.stderr);

    // fvsadm lists them, made before the restart.
    const l = run('ip', ['netns', 'exec', t.ns('dA'), 'env', `FULCRUM_API=http://127.0.0.1:${API}`, process.execPath,
      path.join(root, 'bin/fvsadm.js'), '-Lnc']);
    assert.equal(l.status, 0, l.stderr);
    assert.match(l.stdout, new RegExp(`ESTABLISHED .*:${natPort} +${VIP.replace(/\./g, '\\.')}:80 +${SERVER.replace(/\./g, '\\.')}:80`), l.stdout);
    assert.match(l.stdout, new RegExp(`ESTABLISHED .*:${fnatPort} +${VIP.replace(/\./g, '\\.')}:81 +${SERVER.replace(/\./g, '\\.')}:80`), l.stdout);

    await grows(nat, 'NAT after the restart');
    await grows(fnat, 'FullNAT after the restart');
    const natEnd = await nat.end();
    const fnatEnd = await fnat.end();
    console.log(`# NAT transfer: ${natEnd}; FullNAT transfer: ${fnatEnd}`);
    assert.match(natEnd, /^done exact /);
    assert.match(fnatEnd, /^done exact /);
  } finally {
    for (const x of transfers) x.kill();
    await serve.stop();
    t.down();
  }
});

test('IPv6 NAT and NAT64 transfers complete byte-exact across SIGTERM and a new start', { skip, timeout: 240000 }, async () => {
  const t = new PairTopology('fr6');
  const { serve } = director(t, true);
  const transfers: Transfer[] = [];
  try {
    t.up();
    await serve.start();
    const mac = (getIn(t, '/v1/dataplane').ports as Array<{ name: string; mac: string }>).find((p) => p.name === 'outside')!.mac;
    t.route(mac, directorAddr('A').s);
    t.route6(mac, directorAddr6('A').s);
    const nat6 = new Transfer(t.ns('cli'), 80, 0, VIP6);
    const nat64 = new Transfer(t.ns('cli'), 82, 0, VIP6);
    transfers.push(nat6, nat64);
    const natPort = await nat6.port();
    await nat64.port();
    await grows(nat6, 'IPv6 NAT before the restart');
    await grows(nat64, 'NAT64 before the restart');

    await serve.stop('SIGTERM');
    assert.match(serve.out, /"msg":"connections saved: 2"/, serve.out);
    await sleep(1500);
    await serve.start();
    assert.match(serve.out, /"msg":"connections restored: 2 of 2"/, serve.out);
    const l = run('ip', ['netns', 'exec', t.ns('dA'), 'env', `FULCRUM_API=http://127.0.0.1:${API}`, process.execPath,
      path.join(root, 'bin/fvsadm.js'), '-Lnc']);
    assert.equal(l.status, 0, l.stderr);
    assert.match(l.stdout, new RegExp(`ESTABLISHED .*:${natPort}\\]? +\\[?${VIP6}\\]?:80 +\\[?${SERVER6}\\]?:80`), l.stdout);

    await grows(nat6, 'IPv6 NAT after the restart');
    await grows(nat64, 'NAT64 after the restart');
    const natEnd = await nat6.end();
    const n64End = await nat64.end();
    console.log(`# IPv6 NAT transfer: ${natEnd}; NAT64 transfer: ${n64End}`);
    assert.match(natEnd, /^done exact /);
    assert.match(n64End, /^done exact /);
  } finally {
    for (const x of transfers) x.kill();
    await serve.stop();
    t.down();
  }
});

test('a corrupt connections file is refused with its reason and the director starts empty; kill -9 leaves none', { skip, timeout: 120000 }, async () => {
  const t = new PairTopology('frc');
  const { serve, stateDir } = director(t);
  try {
    t.up();
    fs.mkdirSync(stateDir, { recursive: true });
    const file = path.join(stateDir, 'connections.bin');
    fs.writeFileSync(file, Buffer.from('FULCONNS' + 'x'.repeat(100)));
    await serve.start();
    assert.match(serve.out, /"msg":"saved connections refused; starting empty"/, serve.out);
    const r = getIn(t, '/v1/dataplane').restart;
    assert.ok(r.found);
    assert.match(r.refused, /version|layout|truncated|checksum/);
    assert.equal(r.restored, 0);
    assert.ok(fs.existsSync(`${file}.refused`), 'kept aside for a look');
    assert.ok(!fs.existsSync(file));
    assert.equal(getIn(t, '/v1/connections').connections.length, 0);

    // kill -9: nothing saved, and the next start says it begins empty.
    await serve.stop('SIGKILL');
    assert.ok(!fs.existsSync(file));
    await serve.start();
    assert.match(serve.out, /no saved connections/, serve.out);
  } finally {
    await serve.stop();
    t.down();
  }
});

test('a start with another worker count puts each restored connection on the worker its packets reach', { skip, timeout: 240000 }, async () => {
  const t = new PairTopology('frw');
  const { serve, configFile } = director(t);
  const transfers: Transfer[] = [];
  try {
    t.up();
    await serve.start();
    const mac = (getIn(t, '/v1/dataplane').ports as Array<{ name: string; mac: string }>).find((p) => p.name === 'outside')!.mac;
    t.route(mac, directorAddr('A').s);
    // Client ports whose connections two workers split: one each.
    const ports: number[] = [];
    for (let p = 41000; ports.length < 2; p++) if (ownerOf(CLIENT, p, 2) === ports.length) ports.push(p);
    for (const p of ports) transfers.push(new Transfer(t.ns('cli'), 80, p));
    for (const x of transfers) await x.port();
    for (const x of transfers) await grows(x, 'before the restart');

    await serve.stop('SIGTERM');
    writeConfig(t, configFile, [0, 1]);
    await serve.start();
    assert.match(serve.out, /"msg":"connections restored: 2 of 2"/, serve.out);
    const d = getIn(t, '/v1/dataplane');
    assert.equal(d.restart.savedWorkers, 1);
    assert.deepEqual(d.workers.map((w: { connections: number }) => w.connections), [1, 1], 'one on each worker, as steering sends them');
    for (const x of transfers) await grows(x, 'after the restart');
    for (const x of transfers) assert.match(await x.end(), /^done exact /);
  } finally {
    for (const x of transfers) x.kill();
    await serve.stop();
    t.down();
  }
});
