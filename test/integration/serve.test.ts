// `fulcrum serve` as an operator runs it: starts on the null-port example (which receives
// nothing), reloads its services on SIGHUP (refusing a bad file whole and keeping the running
// config), stops on SIGTERM.
// It runs in a namespace of its own so the TAPs it creates stay there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { cannotRun, root, run, tmpFile } from './harness';

const skip = cannotRun();
const NS = 'fisv';

async function waitFor(get: () => string, re: RegExp, ms = 20000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 100) {
    if (re.test(get())) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${re} in:\n${get()}`);
}

test('fulcrum serve starts, reloads on SIGHUP, refuses a bad reload, stops on SIGTERM', { skip }, async () => {
  run('ip', ['netns', 'add', NS]);
  run('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  let child: ChildProcess | undefined;
  try {
    const cfgFile = tmpFile('fulcrum.yaml');
    const stateDir = path.dirname(cfgFile) + '/state';
    const cfg = YAML.parse(fs.readFileSync(path.join(root, 'examples/null.yaml'), 'utf8'));
    cfg.api = { listen: '127.0.0.1:19393' };
    fs.writeFileSync(cfgFile, YAML.stringify(cfg));
    let out = '';
    // systemd's side of Type=notify: a datagram socket that records what the director says
    const notifySock = path.dirname(cfgFile) + '/notify.sock';
    let notified = '';
    const listener = spawn('python3', ['-u', '-c', 'import socket,sys\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n' +
      `s.bind(${JSON.stringify(notifySock)})\ns.settimeout(60)\nprint("bound")\nwhile True: print(s.recv(4096).decode().replace(chr(10), " "))`]);  // ends after 60 s of silence
    listener.stdout!.on('data', (d: Buffer) => { notified += d; });
    await waitFor(() => notified, /bound/);
    child = spawn('ip', ['netns', 'exec', NS, process.execPath, path.join(root, 'bin/fulcrum.js'), 'serve',
      '--config', cfgFile, '--state-dir', stateDir], { env: { ...process.env, NOTIFY_SOCKET: notifySock } });
    child.stdout!.on('data', (d: Buffer) => { out += d; });
    child.stderr!.on('data', (d: Buffer) => { out += d; });
    await waitFor(() => out, /ready/);
    // DPDK's own lines come through the log, at its levels; its harmless notices (a TAP per
    // port here) are not warnings or errors
    const dpdk = out.split('\n').filter((l) => l.includes('"component":"dpdk"')).map((l) => JSON.parse(l) as { level: number; msg: string });
    assert.ok(dpdk.some((l) => /^EAL: /.test(l.msg)), out);
    assert.deepEqual(dpdk.filter((l) => l.level >= 40).map((l) => l.msg), []);
    // what the director holds, asked inside its namespace (the state directory is its own)
    const applied = () => JSON.parse(run('ip', ['netns', 'exec', NS, 'curl', '-sS', 'http://127.0.0.1:19393/v1/config']).stdout);
    assert.equal(applied().services[0].realServers.length, 2);
    // its net_null ports (no-rx=1) receive nothing: no made-up frames keep the worker busy
    await sleep(500);
    const dataplane = JSON.parse(run('ip', ['netns', 'exec', NS, 'curl', '-sS', 'http://127.0.0.1:19393/v1/dataplane']).stdout);
    assert.deepEqual(dataplane.ports.map((p: { stats: { ipackets: number } }) => p.stats.ipackets), [0, 0]);

    cfg.services[0].realServers.push({ address: '198.19.0.13', port: 8080, method: 'nat', weight: 2 });
    fs.writeFileSync(cfgFile, YAML.stringify(cfg));
    child.kill('SIGHUP');
    await waitFor(() => out, /config reloaded/);
    assert.equal(applied().services[0].realServers.length, 3);
    // the log says what changed, one line per real server
    assert.match(out, /"changes":\["tcp [0-9.]+:\d+ -> 198\.19\.0\.13:8080: added \(nat, weight 2\)"\]/);
    // a restart-only setting is named and not applied; the services still are
    cfg.dataplane.connTableSize = 8192;
    cfg.services[0].realServers[2].weight = 5;
    fs.writeFileSync(cfgFile, YAML.stringify(cfg));
    child.kill('SIGHUP');
    await waitFor(() => out, /needs a restart, not applied/);
    assert.match(out, /"settings":\["dataplane\.connTableSize"\]/);
    assert.match(out, /198\.19\.0\.13:8080: weight 2 -> 5/);
    assert.equal(applied().services[0].realServers[2].weight, 5);
    // every line: ISO time, named fulcrum (a second name key, the last one read, would win)
    for (const line of out.split('\n').filter((l) => l.startsWith('{'))) {
      const o = JSON.parse(line);
      assert.match(o.time, /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
      assert.equal(o.name, 'fulcrum', line);
    }

    cfg.services[0].realServers[0].weight = -1;
    fs.writeFileSync(cfgFile, YAML.stringify(cfg));
    child.kill('SIGHUP');
    await waitFor(() => out, /reload refused/);
    assert.match(out, /services\[0\]\.realServers\[0\]\.weight/);
    assert.equal(applied().services[0].realServers[0].weight, 1, 'the running config is unchanged');

    const exited = new Promise<number | null>((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    child = undefined;
    // ready only once serving, reloading around each SIGHUP, stopping at the end
    await waitFor(() => notified, /STOPPING=1/);
    listener.kill();
    const states = notified.split('\n').filter((l) => l && l !== 'bound').map((l) => l.split(' ')[0]);
    assert.deepEqual(states, ['READY=1', 'RELOADING=1', 'READY=1', 'RELOADING=1', 'READY=1', 'RELOADING=1', 'READY=1', 'STOPPING=1']);
    assert.match(notified, new RegExp(`MAINPID=\\d+ STATUS=1 services, API on 127.0.0.1:19393`));
  } finally {
    child?.kill('SIGKILL');
    run('ip', ['netns', 'del', NS]);
  }
});

test('fulcrum serve refuses a bad config file with every problem and exits 1', async () => {
  const f = tmpFile('bad.yaml');
  fs.writeFileSync(f, 'dataplane: { ports: [] }\nservices: [{ protocol: tcp, address: 198.18.0.1 }]\n');
  const r = run(process.execPath, [path.join(root, 'bin/fulcrum.js'), 'serve', '--config', f, '--state-dir', path.dirname(f)]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /dataplane\.ports/);
});


test('the common mistakes are named with their fix before anything starts: a missing interface, the API address in use, an unwritable state directory', { skip }, async () => {
  const fulcrum = path.join(root, 'bin/fulcrum.js');
  const f = tmpFile('mistakes.yaml');
  const write = (port: Record<string, unknown>, listen = '127.0.0.1:19561') =>
    fs.writeFileSync(f, YAML.stringify({ dataplane: { eal: ['--no-pci'], workers: [1], ports: [port] }, api: { listen } }));
  write({ name: 'outside', device: 'eth7', tap: false });
  let r = run(process.execPath, [fulcrum, 'serve', '--config', f, '--state-dir', path.dirname(f) + '/s1']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /device 'eth7': no network interface of that name here .*net_af_packet0,iface=eth0/);
  write({ name: 'outside', device: 'net_af_packet0,iface=nosuchif', tap: false });
  r = run(process.execPath, [fulcrum, 'serve', '--config', f, '--state-dir', path.dirname(f) + '/s1']);
  assert.match(r.stderr, /no network interface 'nosuchif' here/);
  assert.doesNotMatch(r.stderr, /Operation not permitted/);
  const busy = spawn(process.execPath, ['-e', 'require("net").createServer().listen(19561, "127.0.0.1"); setTimeout(() => {}, 20000)']);
  try {
    await sleep(500);
    write({ name: 'outside', device: 'net_null0', tap: false });
    r = run(process.execPath, [fulcrum, 'serve', '--config', f, '--state-dir', path.dirname(f) + '/s1']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /api\.listen 127\.0\.0\.1:19561: address already in use/);
  } finally {
    busy.kill();
  }
  fs.writeFileSync(path.dirname(f) + '/notadir', '');
  r = run(process.execPath, [fulcrum, 'serve', '--config', f, '--state-dir', path.dirname(f) + '/notadir/state']);
  assert.match(r.stderr, /state directory .*notadir\/state: ENOTDIR .*--state-dir/);
});
