// Acknowledged means durable, refused means absent — against a real director (`fulcrum serve`
// on net_null ports) whose state directory is a tiny tmpfs that we fill up or make read-only,
// and that we kill -9 in the middle of a stream of changes. Also: what only the config file
// may carry (command checks) is refused on every write path, for an unprivileged local user
// too, and never reaches the state files; a SIGHUP the file cannot satisfy changes nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { cannotRun, run, tmpFile } from './harness';
import { call, nullConfig, Serve } from './serve_harness';

const skip = cannotRun();

/** A tmpfs of `size` mounted on a fresh directory, filled and emptied on demand. */
class TinyDisk {
  readonly dir: string;
  constructor(size: string) {
    this.dir = path.dirname(tmpFile('x')) + '/state';
    fs.mkdirSync(this.dir);
    const r = run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', this.dir]);
    if (r.status !== 0) throw new Error(`mount tmpfs: ${r.stderr}`);
  }
  fill(): void {
    const fd = fs.openSync(path.join(this.dir, 'filler'), 'a');
    const block = Buffer.alloc(4096, 1);
    try {
      for (;;) fs.writeSync(fd, block);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    } finally {
      fs.closeSync(fd);
    }
  }
  empty(): void { fs.rmSync(path.join(this.dir, 'filler'), { force: true }); }
  readOnly(on: boolean): void {
    const r = run('mount', ['-o', `remount,${on ? 'ro' : 'rw'}`, this.dir]);
    if (r.status !== 0) throw new Error(`remount: ${r.stderr}`);
  }
  leftovers(): string[] { return fs.readdirSync(this.dir).filter((f) => f.includes('.tmp-')); }
  stateText(): string {
    return fs.readdirSync(this.dir).filter((f) => f === 'state.json' || f === 'journal.jsonl')
      .map((f) => fs.readFileSync(path.join(this.dir, f), 'utf8')).join('\n');
  }
  unmount(): void { run('umount', ['-l', this.dir]); }
}

/** The VIPs the dataplane runs now (metrics come from the dataplane, not the desired state). */
async function liveVips(base: string): Promise<Set<string>> {
  const text = (await call(base, 'GET', '/metrics')).text;
  return new Set([...text.matchAll(/node_ipvs_backend_connections_active\{local_address="([^"]+)"/g)].map((m) => m[1]));
}

const newSvc = (n: number) => ({ protocol: 'tcp', address: `198.18.0.${n}`, port: 80, scheduler: 'rr',
  realServers: [{ address: '198.19.0.11', port: 8080, method: 'nat', weight: 1 }] });

describe('a full or read-only state directory', { skip }, () => {
  const port = 19471;
  const base = `http://127.0.0.1:${port}`;
  let disk: TinyDisk;
  let serve: Serve;
  const cfgFile = tmpFile('fulcrum.yaml');
  before(async () => {
    disk = new TinyDisk('256k');
    fs.writeFileSync(cfgFile, YAML.stringify(nullConfig(port)));
    serve = new Serve(cfgFile, disk.dir);
    await serve.start();
  });
  after(async () => {
    await serve.stop();
    disk.unmount();
  });

  test('a POST refused for a full disk is absent everywhere, and its retry is a 201, not a 409', async () => {
    disk.fill();
    const r = await call(base, 'POST', '/v1/services', newSvc(50));
    assert.equal(r.status, 507, r.text);
    assert.match(r.json.message, /no space left on device.*not applied/);
    assert.equal((await call(base, 'GET', '/v1/services/tcp:198.18.0.50:80')).status, 404);
    assert.ok(!(await liveVips(base)).has('198.18.0.50'), 'the dataplane was put back');
    disk.empty();
    assert.equal((await call(base, 'POST', '/v1/services', newSvc(50))).status, 201);
    assert.ok((await liveVips(base)).has('198.18.0.50'));
  });

  // A restart folds the journal into the base, so the next append needs a new page: a small
  // record could otherwise still fit in the journal's last one on a full disk.
  const restart = async () => { await serve.stop(); await serve.start(); };

  test('a DELETE refused for a full disk leaves the service in place, live', async () => {
    await restart();
    disk.fill();
    assert.equal((await call(base, 'DELETE', '/v1/services/tcp:198.18.0.50:80')).status, 507);
    assert.equal((await call(base, 'GET', '/v1/services/tcp:198.18.0.50:80')).status, 200);
    assert.ok((await liveVips(base)).has('198.18.0.50'));
    disk.empty();
  });

  test('timeouts refused for a full disk stay as they were', async () => {
    await restart();
    disk.fill();
    assert.equal((await call(base, 'PUT', '/v1/timeouts', { tcp: 11, tcpfin: 12, udp: 13 })).status, 507);
    assert.deepEqual((await call(base, 'GET', '/v1/timeouts')).json, { tcp: 900, tcpfin: 120, udp: 300 });
    disk.empty();
  });

  test('fvsadm -R answered on the director: refused for a full disk, nothing of it is live; fvsadm says so, exit 255', async () => {
    await restart();
    disk.fill();
    const text = '-A -t 198.18.0.52:80 -s rr\n-a -t 198.18.0.52:80 -r 198.19.0.52:80 -m\n';
    const r = await fetch(`${base}/v1/restore`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: text });
    assert.equal(r.status, 507, await r.text());
    const fv = run('env', [`FULCRUM_API=${base}`, process.execPath, path.join(__dirname, '../../../bin/fvsadm.js'), '-R'], { input: text });
    assert.equal(fv.status, 255, fv.stderr);
    assert.match(fv.stderr, /answered 507/);
    assert.equal((await call(base, 'GET', '/v1/services/tcp:198.18.0.52:80')).status, 404);
    assert.ok(!(await liveVips(base)).has('198.18.0.52'));
    disk.empty();
  });

  test('read-only: writes answer 503 and change nothing; a SIGHUP logs its refusal and changes nothing', async () => {
    disk.readOnly(true);
    try {
      const r = await call(base, 'PATCH', '/v1/services/tcp:198.18.0.100:80/servers/198.19.0.11:8080', { weight: 9 });
      assert.equal(r.status, 503, r.text);
      assert.match(r.json.message, /read-only file system/);
      assert.equal((await call(base, 'GET', '/v1/services/tcp:198.18.0.100:80/servers/198.19.0.11:8080')).json.effectiveWeight, 1);
      serve.child!.kill('SIGHUP');
      for (let i = 0; i < 50 && !/reload refused/.test(serve.out); i++) await sleep(100);
      assert.match(serve.out, /reload refused/);
      assert.deepEqual((await call(base, 'GET', '/v1/services')).json.map((s: { id: string }) => s.id).sort(),
        ['tcp:198.18.0.100:80', 'tcp:198.18.0.50:80']);
    } finally {
      disk.readOnly(false);
    }
  });

  test('refused changes never become durable with a later change, and no temporary files are left', async () => {
    assert.equal((await call(base, 'POST', '/v1/services', newSvc(51))).status, 201);
    await serve.stop('SIGKILL');
    await serve.start();
    const ids = (await call(base, 'GET', '/v1/services')).json.map((s: { id: string }) => s.id).sort();
    assert.deepEqual(ids, ['tcp:198.18.0.100:80', 'tcp:198.18.0.50:80', 'tcp:198.18.0.51:80']);
    assert.deepEqual((await call(base, 'GET', '/v1/timeouts')).json, { tcp: 900, tcpfin: 120, udp: 300 });
    assert.equal((await call(base, 'GET', '/v1/services/tcp:198.18.0.100:80/servers/198.19.0.11:8080')).json.weight, 1);
    assert.deepEqual(disk.leftovers(), []);
  });
});

describe('kill -9 at random points of a change stream', { skip }, () => {
  test('after each restart the state is the last acknowledged one (or the one in flight), nothing refused is live', async () => {
    const port = 19472;
    const base = `http://127.0.0.1:${port}`;
    const cfgFile = tmpFile('fulcrum.yaml');
    fs.writeFileSync(cfgFile, YAML.stringify(nullConfig(port)));
    const serve = new Serve(cfgFile, path.dirname(cfgFile) + '/state');
    // The model: service n exists with weight w; each step adds, reweights or deletes one.
    let acked = new Map<number, number>([[100, 1]]);
    try {
      for (let round = 0; round < 3; round++) {
        await serve.start();
        let inflight: Map<number, number> | undefined;
        let stop = false;
        const stream = (async () => {
          for (let i = 0; !stop; i++) {
            const next = new Map(acked);
            const n = 60 + (i % 20);
            let req: [string, string, unknown?];
            if (!next.has(n)) { next.set(n, 1); req = ['POST', '/v1/services', newSvc(n)]; }
            else if (i % 3) { next.set(n, i); req = ['PATCH', `/v1/services/tcp:198.18.0.${n}:80/servers/198.19.0.11:8080`, { weight: i }]; }
            else { next.delete(n); req = ['DELETE', `/v1/services/tcp:198.18.0.${n}:80`]; }
            inflight = next;
            try {
              const r = await call(base, ...req);
              assert.ok(r.status < 300, `${req[0]} ${req[1]}: ${r.status} ${r.text}`);
              acked = next;
            } catch (e) {
              if (e instanceof assert.AssertionError) throw e;
              return;  // the director is gone
            }
          }
        })();
        await sleep(400 + Math.floor(Math.random() * 600));
        await serve.stop('SIGKILL');
        stop = true;
        await stream;
        await serve.start();
        const now = new Map<number, number>();
        for (const s of (await call(base, 'GET', '/v1/services')).json as Array<{ address: string; realServers: Array<{ weight: number }> }>)
          now.set(Number(s.address.split('.')[3]), s.realServers[0].weight ?? 1);
        const same = (a: Map<number, number>, b: Map<number, number> | undefined) =>
          b !== undefined && a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
        assert.ok(same(now, acked) || same(now, inflight), `round ${round}: restored ${JSON.stringify([...now])}, acknowledged ${JSON.stringify([...acked])}`);
        const live = await liveVips(base);
        assert.deepEqual([...live].sort(), [...now.keys()].map((n) => `198.18.0.${n}`).sort(), 'the dataplane runs the restored state');
        acked = now;
        await serve.stop('SIGKILL');
      }
    } finally {
      await serve.stop();
    }
  });
});

describe('command checks only from the config file, on every write path', { skip }, () => {
  const port = 19473;
  const base = `http://127.0.0.1:${port}`;
  const cfgFile = tmpFile('fulcrum.yaml');
  const stateDir = path.dirname(cfgFile) + '/state';
  const marker = path.join(path.dirname(cfgFile), 'ran');
  const cmd = { type: 'command', interval: 0.2, command: ['/bin/sh', '-c', `touch ${marker}`] };
  const serve = new Serve(cfgFile, stateDir);
  before(async () => {
    fs.writeFileSync(cfgFile, YAML.stringify(nullConfig(port)));
    await serve.start();
  });
  after(() => serve.stop());

  const S = '/v1/services/tcp:198.18.0.100:80';
  const R = `${S}/servers/198.19.0.11:8080`;
  const paths: Array<[string, string, unknown]> = [
    ['POST', '/v1/services', { ...newSvc(70), healthChecks: [cmd] }],
    ['POST', '/v1/services', { ...newSvc(71), realServers: [{ address: '198.19.0.12', port: 80, method: 'nat', healthChecks: [cmd] }] }],
    ['PUT', S, { protocol: 'tcp', address: '198.18.0.100', port: 80, healthChecks: [{ type: 'tcp' }, cmd] }],
    ['PATCH', S, { realServers: [{ address: '198.19.0.11', port: 8080, method: 'nat', healthChecks: [cmd] }] }],
    ['PATCH', S, { healthChecks: [cmd] }],
    ['POST', `${S}/servers`, { address: '198.19.0.13', port: 8080, method: 'nat', healthChecks: [cmd] }],
    ['PUT', R, { address: '198.19.0.11', port: 8080, method: 'nat', healthChecks: [cmd] }],
    ['PATCH', R, { healthChecks: [cmd] }],
  ];

  test('each route refuses it with 403 naming where it is', async () => {
    for (const [method, p, body] of paths) {
      const r = await call(base, method, p, body);
      assert.equal(r.status, 403, `${method} ${p}: ${r.text}`);
      assert.ok(r.json.problems.some((x: string) => /healthChecks\[\d\]: command checks can only come from the config file/.test(x)), r.text);
    }
  });

  test('each op of a batch is refused the same way; the others in it apply', async () => {
    const ops = [...paths.map(([method, p, body]) => ({ method, path: p, body })), { method: 'POST', path: '/v1/services', body: newSvc(72) }];
    const r = await call(base, 'POST', '/v1/batch', { ops });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.results.map((x: { status: number }) => x.status), [...paths.map(() => 403), 201]);
  });

  test('PUT /v1/config refuses it in a restore document', async () => {
    const r = await call(base, 'PUT', '/v1/config', { services: [{ ...newSvc(73), realServers: [{ address: '198.19.0.1', port: 80, method: 'nat', healthChecks: [cmd] }] }] });
    assert.equal(r.status, 403, r.text);
    assert.equal((await call(base, 'GET', '/v1/services/tcp:198.18.0.73:80')).status, 404);
  });

  test('an unprivileged local user gets the same answer', () => {
    const r = run('runuser', ['-u', 'nobody', '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PATCH',
      '-H', 'content-type: application/json', '--data', JSON.stringify(paths[3][2]), `${base}${S}`]);
    assert.equal(r.stdout, '403', r.stderr);
  });

  test('nothing ran, and the state files hold no command check', async () => {
    await sleep(600);
    assert.equal(fs.existsSync(marker), false);
    const text = fs.readdirSync(stateDir).filter((f) => f.endsWith('.json') || f.endsWith('.jsonl'))
      .map((f) => fs.readFileSync(path.join(stateDir, f), 'utf8')).join('\n');
    assert.ok(!text.includes('"command"'), text);
  });

  test('a state directory that holds one anyway is refused at start, naming the file', async () => {
    await serve.stop();
    fs.appendFileSync(path.join(stateDir, 'journal.jsonl'), JSON.stringify({ seq: 1000, put: [{ ...newSvc(74), healthChecks: [cmd] }] }) + '\n');
    const r = run(process.execPath, [path.join(__dirname, '../../../bin/fulcrum.js'), 'serve', '--config', cfgFile, '--state-dir', stateDir]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /journal\.jsonl/);
  });
});

describe('the config file and the state directory', { skip }, () => {
  test('a command check in the config file runs, and is shown, but never stored', async () => {
    const port = 19474;
    const cfgFile = tmpFile('fulcrum.yaml');
    const stateDir = path.dirname(cfgFile) + '/state';
    const marker = path.join(path.dirname(cfgFile), 'ran');
    const cfg = nullConfig(port);
    (cfg.services[0].realServers[0] as Record<string, unknown>).healthChecks = [{ type: 'command', interval: 0.2, command: ['/bin/sh', '-c', `touch ${marker}`] }];
    fs.writeFileSync(cfgFile, YAML.stringify(cfg));
    const serve = new Serve(cfgFile, stateDir);
    await serve.start();
    try {
      for (let i = 0; i < 30 && !fs.existsSync(marker); i++) await sleep(100);
      assert.ok(fs.existsSync(marker), 'the file\'s command check runs');
      const r = await call(`http://127.0.0.1:${port}`, 'GET', '/v1/services/tcp:198.18.0.100:80');
      assert.equal(r.json.realServers[0].healthChecks[0].type, 'command');
      assert.ok(!fs.readFileSync(path.join(stateDir, 'state.json'), 'utf8').includes('"command"'));
      // A second director on the same state directory is refused, naming the holder.
      const second = run(process.execPath, [path.join(__dirname, '../../../bin/fulcrum.js'), 'serve', '--config', cfgFile, '--state-dir', stateDir]);
      assert.notEqual(second.status, 0);
      assert.match(second.stderr, new RegExp(`in use by another director \\(pid ${serve.child!.pid}`));
    } finally {
      await serve.stop();
    }
  });
});
