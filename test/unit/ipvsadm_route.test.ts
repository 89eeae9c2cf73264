// POST /v1/ipvsadm runs fvsadm on the director for the native client: what it printed and its
// exit status come back; what only the client has is asked for instead of guessed (standard
// input: 409 needs "stdin"; a host or port name, or a listing that would print one: 409 needs
// "client"); its own requests go through the API with the caller's token. The director behind
// the app is a stand-in with no dataplane and the table given; the app listens on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApi } from '../../src/api/app';
import type { Daemon } from '../../src/control/daemon';
import { usageText, VERSION_LINE } from '../../src/ipvsadm/usage';

const TOKEN = 'the-api-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const ZERO = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const RATES = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };

function standIn(services: Array<{ protocol: string; address: string; port: number }> = []) {
  const live = services.map((c) => ({ id: `${c.protocol}:${c.address}:${c.port}`, config: { ...c, scheduler: 'wlc' }, stats: ZERO, rates: RATES, servers: [] }));
  return { notReady: () => undefined, addon: { running: () => true }, state: { serviceCount: live.length, staticCfg: {} },
    services: async () => live, table: async () => ({ count: live.length, services: live }),
    change: async (f: (d: unknown) => unknown) => f({}) } as unknown as Daemon;
}

async function withApp(daemon: Daemon, f: (run: (body: unknown, headers?: Record<string, string>) => Promise<{ status: number; json: any }>) => Promise<void>) {
  const api = await buildApi({ daemon, token: TOKEN });
  try {
    // its requests go to its own socket
    const base = await api.listen({ host: '127.0.0.1', port: 0 });
    await f(async (body, headers = auth) => {
      const r = await fetch(`${base}/v1/ipvsadm`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, json: await r.json() };
    });
  } finally {
    await api.close();
  }
}

test('an invocation is answered with what fvsadm printed and its exit status, in the program\'s name', async () => {
  await withApp(standIn(), async (run) => {
    assert.deepEqual((await run({ argv: ['-h'], program: 'ipvsadm' })).json, { stdout: usageText('ipvsadm'), stderr: '', exit: 0 });
    assert.deepEqual((await run({ argv: ['-v'] })).json, { stdout: VERSION_LINE + '\n', stderr: '', exit: 0 });
    const usage = await run({ argv: ['-Q'], program: 'fvsadm' });
    assert.equal(usage.status, 200);
    assert.deepEqual(usage.json, { stdout: '', stderr: 'Try `fvsadm -h\' or \'fvsadm --help\' for more information.\n', exit: 255 });
    // -Ln reads GET /v1/services with the caller's token: without it this would be the
    // token's refusal (exit 2), not the empty table.
    const list = await run({ argv: ['-Ln'] });
    assert.deepEqual(list.json, { stdout: 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n', stderr: '', exit: 0 });
  });
});

test('a large table\'s listing and save come back whole, in ipvsadm\'s order (written in slices)', async () => {
  const services = Array.from({ length: 12000 }, (_, i) => ({ protocol: 'tcp', address: `198.18.${i >> 8}.${i & 255}`, port: 80 }));
  await withApp(standIn([...services].reverse()), async (run) => {
    const list = await run({ argv: ['-Ln'] });
    assert.equal(list.json.exit, 0);
    const lines = list.json.stdout.split('\n');
    assert.ok(list.json.stdout.length > 256 * 1024, 'past the size written in slices');
    assert.equal(lines.length, 3 + 12000 + 1);
    assert.equal(lines[3], 'TCP  198.18.0.0:80 wlc');
    assert.equal(lines[12002], 'TCP  198.18.46.223:80 wlc');
    const save = await run({ argv: ['-Sn'] });
    assert.equal(save.json.stdout.split('\n')[0], '-A -t 198.18.0.0:80 -s wlc');
  });
});

test('without the token, or with a body that is not an invocation, nothing runs', async () => {
  await withApp(standIn(), async (run) => {
    assert.equal((await run({ argv: ['-h'] }, {})).status, 401);
    assert.equal((await run({ argv: ['-h'] }, { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await run({ argv: '-h' })).status, 400);
    assert.equal((await run({ argv: [1] })).status, 400);
    assert.equal((await run({ argv: [], extra: true })).status, 400);
  });
});

test('standard input is asked for, not assumed empty: 409 needs "stdin"', async () => {
  await withApp(standIn(), async (run) => {
    const r = await run({ argv: ['-R'] });
    assert.equal(r.status, 409);
    assert.equal(r.json.needs, 'stdin');
    // a bad line with the input sent: ipvsadm's message, nothing applied (the stand-in has no
    // change to make)
    const bad = await run({ argv: ['-R'], stdin: '-A -t 10.0.0.1:80 -w 3\n' });
    assert.equal(bad.status, 200);
    assert.equal(bad.json.exit, 2);
    assert.match(bad.json.stderr, /Illegal 'weight' option with the 'add-service' command/);
  });
});

test('names are the client\'s: a host, a port name, -R input naming one, a listing that would print one: 409 needs "client"', async () => {
  await withApp(standIn([{ protocol: 'tcp', address: '10.0.0.1', port: 80 }]), async (run) => {
    for (const [argv, stdin] of [[['-A', '-t', 'localhost:80']], [['-a', '-t', '10.0.0.1:80', '-r', 'realserver:80']],
      [['-A', '-t', '10.0.0.1:http']], [['-L']], [['-S']], [['-R'], '-A -t 10.0.0.2:http\n']] as [string[], string?][]) {
      const r = await run({ argv, ...(stdin !== undefined ? { stdin } : {}) });
      assert.equal(r.status, 409, argv.join(' '));
      assert.equal(r.json.needs, 'client', argv.join(' '));
    }
    // with -n no name is printed: answered here
    const numeric = await run({ argv: ['-L', '-n'] });
    assert.equal(numeric.status, 200);
    assert.match(numeric.json.stdout, /^TCP {2}10\.0\.0\.1:80 wlc$/m);
  });
  // an empty table prints no name: answered here
  await withApp(standIn(), async (run) => assert.equal((await run({ argv: ['-L'] })).status, 200));
});
