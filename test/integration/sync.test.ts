// Connection sync through the real dataplane, both ends, with a sync peer (native/testing/
// sync_peer: sync_wire's reader and writer) in a namespace on the wire:
//   - master: real TCP connections through the director; the peer, on the servers' bridge,
//     receives datagrams from the director's port address that decode to exactly the
//     connections the director lists;
//   - backup: the peer, on the clients' link, sends a message; the director lists its
//     connection as synced and forwards a mid-flow segment of it to the real server the
//     message named (a segment no connection covers is dropped: sloppy_tcp 0);
//   - random datagrams: counted, the backup keeps running.
// Two workers, so records are routed to the worker that owns their connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnEntry, SyncDaemonInfo } from '../../src/native';
import { cannotRun, configFor, DirectorProcess, root, Topology } from './harness';

const skip = cannotRun();
const VIP = '198.18.0.100';
const PORT = 7200;
const CLIENT = '198.18.0.2';
const peer = path.join(root, 'build/native/native/testing/sync_peer');

interface Decoded {
  from: string; syncid: number; version: number; error: number;
  conns: Array<{ protocol: number; flags: number; state: number; caddr: string; cport: number; vaddr: string; vport: number;
    daddr: string; dport: number; timeout: number }>;
}

// Holds n connections open, each having sent a few bytes and read the server's name.
const CLIENT_SCRIPT = `
import socket, sys, time
held = []
for i in range(int(sys.argv[3])):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    s.makefile().readline()
    for _ in range(3):
        s.send(b'x')
        time.sleep(0.05)
    held.append(s)
print('open', flush=True)
time.sleep(float(sys.argv[4]))
`;

// A TCP segment (ACK, data) from the client's address and port to the VIP, as a client
// whose connection started on another director would send it.
const SEGMENT_SCRIPT = `
import socket, struct, sys
src, sport, dst, dport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
data = b'hello'
tcp = struct.pack('!HHIIBBHHH', sport, dport, 1000, 2000, 5 << 4, 0x18, 65535, 0, 0) + data
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.sendto(tcp, (dst, 0))
`;

describe('connection sync', { skip }, () => {
  const t = new Topology('syn', 3);
  const dir = new DirectorProcess();

  before(async () => {
    t.up();
    for (let i = 1; i <= 3; i++)
      t.background(`srv${i}`, ['timeout', '120', 'socat', `TCP-LISTEN:${PORT},fork,reuseaddr`, `SYSTEM:echo srv${i}; cat >/dev/null`]);
    await dir.start(t, configFor(t, {
      workers: [0, 1], qpairs: 2,
      services: [{
        protocol: 'tcp', address: VIP, port: PORT, scheduler: 'rr',
        realServers: [1, 2, 3].map((i) => ({ address: `198.19.0.${10 + i}`, port: PORT, method: 'nat' as const, weight: 1 })),
      }, {
        // The service of the kernel-captured datagrams (native/ipvs_core/test/sync_wire_test.cc).
        protocol: 'tcp', address: '198.18.1.100', port: 80, scheduler: 'rr',
        realServers: [{ address: '198.18.2.1', port: 80, method: 'nat' as const, weight: 1 }],
      }],
    }));
    for (let i = 0; i < 50 && !t.exec('srv3', ['ss', '-ltn', `sport = :${PORT}`]).stdout.includes(`:${PORT}`); i++) await sleep(100);
  });
  after(async () => {
    await dir.stop();
    t.down();
  });

  /** Starts the peer listening in a namespace; resolves once it joined, with its output to come. */
  async function listen(node: string, ifname: string, seconds: number) {
    const c = spawn('ip', ['netns', 'exec', t.ns(node), peer, 'listen', ifname, '224.0.0.81', '8848', String(seconds)]);
    const lines: string[] = [];
    const rl = readline.createInterface({ input: c.stdout });
    const ready = new Promise<void>((resolve) => rl.on('line', (l) => (l.includes('listening') ? resolve() : lines.push(l))));
    const done = new Promise<Decoded[]>((resolve) => rl.on('close', () => resolve(lines.map((l) => JSON.parse(l) as Decoded))));
    await ready;
    return { done };  // not the promise itself: the async function would wait for it
  }

  test('a master sends the connections it lists, from its port onto the wire', async () => {
    await dir.request('syncStart', { state: 'master', port: 'servers', syncId: 9 });
    await assert.rejects(dir.request('syncStart', { state: 'master', port: 'servers', syncId: 9 }), /\[EEXIST\]/);
    await assert.rejects(dir.request('syncStart', { state: 'backup', port: 'nope', syncId: 0 }), /port: no port named 'nope'/);
    const received = (await listen('srv1', `${t.prefix}-s1`, 8)).done;
    const client = t.background('client', ['python3', '-c', CLIENT_SCRIPT, VIP, String(PORT), '6', '10']);
    // Records are batched: the partial message goes out 2 s after its first record.
    await sleep(4000);
    const listed = (await dir.request<ConnEntry[]>('connections', { templates: false }))
      .filter((c) => c.virtualPort === PORT && c.state === 'ESTABLISHED');
    const messages = await received;
    client.kill();
    const stats = JSON.stringify(await dir.request<SyncDaemonInfo[]>('syncDaemons'));
    assert.equal(listed.length, 6, 'six connections held open');
    assert.ok(messages.length > 0, `datagrams arrived on the servers' link (${stats})`);
    for (const m of messages) {
      assert.equal(m.from, '198.19.0.1', 'sent from the port\'s address, through its kernel interface');
      assert.equal(m.syncid, 9);
      assert.equal(m.version, 1);
      assert.equal(m.error, 0);
    }
    const key = (caddr: string, cport: number, daddr: string, dport: number) => `${caddr}:${cport}>${daddr}:${dport}`;
    const sent = new Set(messages.flatMap((m) => m.conns.filter((c) => c.state === 1 && c.protocol === 6)
      .map((c) => key(c.caddr, c.cport, c.daddr, c.dport) + `@${c.vaddr}:${c.vport}/${c.timeout}`)));
    for (const c of listed)
      assert.ok(sent.has(key(c.clientAddress, c.clientPort, c.serverAddress, c.serverPort) + `@${VIP}:${PORT}/900`),
        `${c.clientAddress}:${c.clientPort} was sent (sent: ${[...sent].join(' ')})`);
    const daemons = await dir.request<SyncDaemonInfo[]>('syncDaemons');
    const master = daemons.find((d) => d.state === 'master');
    assert.ok(master);
    assert.equal(master.port, 'servers');
    assert.equal(master.group, '224.0.0.81');
    assert.equal(master.mcastPort, 8848);
    assert.equal(master.maxlen, 1472);
    assert.ok(master.stats.messages_sent >= messages.length && master.stats.conns_sent >= 6, JSON.stringify(master.stats));
    assert.equal(master.stats.sync_dropped, 0);
    assert.equal(await dir.request('syncStop', 'master'), true);
    assert.equal(await dir.request('syncStop', 'master'), false);
  });

  test('a backup installs what a master sends and forwards those flows to the server named', async () => {
    await dir.request('syncStart', { state: 'backup', port: 'clients', syncId: 5 });
    await sleep(300);  // the group joined (IGMP report out of the port)
    const records = [
      // proto caddr cport vaddr vport daddr dport state flags timeout
      `6 ${CLIENT} 45001 ${VIP} ${PORT} 198.19.0.12 ${PORT} 1 0 900`,
      `6 ${CLIENT} 45002 ${VIP} ${PORT} 198.19.0.13 ${PORT} 1 0 900`,
      `6 ${CLIENT} 45003 ${VIP} ${PORT} 198.19.0.99 ${PORT} 1 0 900`,  // no such real server: skipped
    ];
    const other = t.exec('client', [peer, 'send', `${t.prefix}-c0`, '224.0.0.81', '8848', '6'], { input: records.join('\n') + '\n' });
    assert.equal(other.status, 0, other.stderr);
    const sent = t.exec('client', [peer, 'send', `${t.prefix}-c0`, '224.0.0.81', '8848', '5'], { input: records.join('\n') + '\n' });
    assert.equal(sent.status, 0, sent.stderr);
    let synced: ConnEntry[] = [];
    for (let i = 0; i < 50 && synced.length < 2; i++) {
      await sleep(100);
      synced = (await dir.request<ConnEntry[]>('connections', { clientAddress: CLIENT })).filter((c) => c.synced);
    }
    const byPort = new Map(synced.map((c) => [c.clientPort, c]));
    assert.equal(byPort.get(45001)?.serverAddress, '198.19.0.12');
    assert.equal(byPort.get(45001)?.state, 'ESTABLISHED');
    assert.equal(byPort.get(45002)?.serverAddress, '198.19.0.13');
    assert.equal(byPort.has(45003), false);
    const backup = (await dir.request<SyncDaemonInfo[]>('syncDaemons')).find((d) => d.state === 'backup');
    assert.ok(backup);
    assert.equal(backup.stats.other_syncid, 1, 'the message for SyncID 6 is filtered');
    assert.equal(backup.stats.installed, 2);
    assert.equal(backup.stats.skipped_no_dest, 1);

    // The flow's next segment reaches 198.19.0.12 (rewritten to its port), not a scheduled server.
    const seen = (node: string, sport: number) => {
      const c = spawn('ip', ['netns', 'exec', t.ns(node), 'timeout', '5', 'tcpdump', '-l', '-n', '-c', '1', '-i', `${t.prefix}-s${node.slice(3)}`,
        `tcp and src host ${CLIENT} and src port ${sport} and dst port ${PORT}`], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => { out += d; });
      return new Promise<string>((resolve) => c.on('exit', () => resolve(out)));
    };
    const on2 = seen('srv2', 45001);
    const on1 = seen('srv1', 45001);
    const on3 = seen('srv3', 45001);
    await sleep(1000);  // tcpdump listening
    t.exec('client', ['python3', '-c', SEGMENT_SCRIPT, CLIENT, '45001', VIP, String(PORT)]);
    const [s2, s1, s3] = await Promise.all([on2, on1, on3]);
    assert.match(s2, /198\.18\.0\.2\.45001 > 198\.19\.0\.12\.7200/);
    assert.equal((s1 + s3).trim(), '', 'no other server saw it');
  });

  test('a backup takes what a kernel master sent (datagrams captured from Linux 6.1)', async () => {
    // Three connections to 198.18.1.100:80 reaching ESTABLISHED, SyncID 5 (kKernelEstablished).
    const established =
      '000500740301000000060024000000000001e590005000500000000000000384' +
      'c6120101c6120164c612020100060024000000000001e59a0050005000000000' +
      '00000384c6120101c6120164c612020100060024000000000001e59c00500050' +
      '0000000000000384c6120101c6120164c6120201';
    const r = t.exec('client', [peer, 'raw', `${t.prefix}-c0`, '224.0.0.81', '8848'], { input: established + '\n' });
    assert.equal(r.status, 0, r.stderr);
    let got: ConnEntry[] = [];
    for (let i = 0; i < 50 && got.length < 3; i++) {
      await sleep(100);
      got = (await dir.request<ConnEntry[]>('connections', { virtualAddress: '198.18.1.100' })).filter((c) => c.synced);
    }
    assert.deepEqual(got.map((c) => c.clientPort).sort(), [0xe590, 0xe59a, 0xe59c]);
    for (const c of got) {
      assert.equal(c.clientAddress, '198.18.1.1');
      assert.equal(c.serverAddress, '198.18.2.1');
      assert.equal(c.state, 'ESTABLISHED');
      assert.ok(c.expiresMs > 850000 && c.expiresMs <= 900000, `the sent timeout, 900 s: ${c.expiresMs}`);
    }
  });

  test('a backup fed random datagrams counts them and keeps running', async () => {
    const junk: string[] = [];
    let seed = 7;
    const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
    for (let i = 0; i < 200; i++) {
      const len = 1 + (rnd() % 300);
      let hex = '';
      for (let j = 0; j < len; j++) {
        let b = rnd() & 0xff;
        // Some look like v1 headers (reserved 0, version 1, the right size) so records get read.
        if (i % 2 === 0 && j === 0) b = 0;
        if (i % 2 === 0 && j === 1) b = 0;
        if (i % 2 === 0 && j === 2) b = len >> 8;
        if (i % 2 === 0 && j === 3) b = len & 0xff;
        if (i % 2 === 0 && j === 5) b = 1;
        hex += b.toString(16).padStart(2, '0');
      }
      junk.push(hex);
    }
    const r = t.exec('client', [peer, 'raw', `${t.prefix}-c0`, '224.0.0.81', '8848'], { input: junk.join('\n') + '\n' });
    assert.equal(r.status, 0, r.stderr);
    await sleep(500);
    const backup = (await dir.request<SyncDaemonInfo[]>('syncDaemons')).find((d) => d.state === 'backup');
    assert.ok(backup, 'still running');
    assert.ok(backup.stats.messages_received >= 150, JSON.stringify(backup.stats));
    assert.ok(backup.stats.bad_messages + backup.stats.truncated_messages > 0, JSON.stringify(backup.stats));
    // The dataplane still forwards: a new connection works.
    const c = t.exec('client', ['python3', '-c', `import socket; s=socket.create_connection(('${VIP}', ${PORT}), timeout=3); print(s.makefile().readline().strip())`]);
    assert.match(c.stdout, /srv\d/);
  });

  test('backup_only: while a backup runs, no new connection is balanced; synced ones still flow', async () => {
    const tun = { threshold: 3, period: 50, refreshPeriod: 0, retries: 0, persistMode: false };
    const connect = () => t.exec('client', ['python3', '-c',
      `import socket\ntry:\n  s=socket.create_connection(('${VIP}', ${PORT}), timeout=1.5); print(s.makefile().readline().strip())\nexcept OSError as e: print('failed', e)`]).stdout;
    await dir.request('syncTunables', { ...tun, backupOnly: true });
    await sleep(200);
    assert.match(connect(), /failed/);
    const on2 = spawn('ip', ['netns', 'exec', t.ns('srv2'), 'timeout', '5', 'tcpdump', '-l', '-n', '-c', '1', '-i', `${t.prefix}-s2`,
      `tcp and src host ${CLIENT} and src port 45001 and dst port ${PORT}`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '';
    on2.stdout.on('data', (d: Buffer) => { seen += d; });
    const done = new Promise((r) => on2.on('exit', r));
    await sleep(1000);
    t.exec('client', ['python3', '-c', SEGMENT_SCRIPT, CLIENT, '45001', VIP, String(PORT)]);
    await done;
    assert.match(seen, /198\.19\.0\.12\.7200/, 'the synced flow is still forwarded');
    await dir.request('syncTunables', { ...tun, backupOnly: false });
    await sleep(200);
    assert.match(connect(), /srv\d/);
    // With the sysctl on but no backup running, the director balances (the kernel's rule).
    await dir.request('syncTunables', { ...tun, backupOnly: true });
    assert.equal(await dir.request('syncStop', 'backup'), true);
    await sleep(200);
    assert.match(connect(), /srv\d/);
    await dir.request('syncTunables', { ...tun, backupOnly: false });
  });
});

describe('connection sync needs a kernel interface', { skip }, () => {
  const t = new Topology('synt', 1);
  const dir = new DirectorProcess();
  before(async () => {
    t.up();
    const cfg = configFor(t);
    cfg.dataplane.ports[1].tap = false;
    await dir.start(t, cfg);
  });
  after(async () => {
    await dir.stop();
    t.down();
  });

  test('a port without one (tap: false) is refused, naming the port', async () => {
    await assert.rejects(dir.request('syncStart', { state: 'master', port: 'servers', syncId: 1 }),
      /port: 'servers' has no kernel interface \(tap: false\)/);
    await assert.rejects(dir.request('syncStart', { state: 'backup', port: 'servers', syncId: 1 }),
      /port: 'servers' has no kernel interface/);
    assert.deepEqual(await dir.request('syncDaemons'), []);
    // The port with one takes a daemon.
    await dir.request('syncStart', { state: 'backup', port: 'clients', syncId: 1 });
    assert.equal((await dir.request<SyncDaemonInfo[]>('syncDaemons')).length, 1);
  });
});
