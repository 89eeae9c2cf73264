// IPv6 over the REST API of a running director (`fulcrum serve` on net_null ports) that listens
// on [::1] without a token (loopback in IPv6 too): malformed IPv6 anywhere is a 400 naming the
// field and changes nothing; the family rules hold on every write path (routes, batch, PUT
// /v1/config); IPv6 services are created, named by bracketed ids in any spelling, listed by
// fvsadm as ipvsadm lists them and saved and restored as -S text.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { cannotRun, tmpFile } from './harness';
import { call, nullConfig, Serve } from './serve_harness';
import { HttpApi } from '../../src/client/http';
import { runFvsadm } from '../../src/ipvsadm/run';
import { parseServicesFile } from '../../src/ipvsadm/addr';

const skip = cannotRun();

describe('IPv6 over the API, on a [::1] listener', { skip }, () => {
  const port = 19397;
  const base = `http://[::1]:${port}`;
  const cfgFile = tmpFile('fulcrum-v6.yaml');
  const serve = new Serve(cfgFile, path.dirname(cfgFile) + '/state-v6');
  before(async () => {
    fs.writeFileSync(cfgFile, YAML.stringify(nullConfig(port, { api: { listen: `[::1]:${port}` } })));
    await serve.start();
  });
  after(() => serve.stop());

  const fvsadm = async (argv: string[], stdin = '') => {
    let stdout = '', stderr = '';
    const exit = await runFvsadm(argv, {
      program: 'ipvsadm', api: new HttpApi(base), readStdin: async () => stdin, services: parseServicesFile(''),
      lookupHost: async () => undefined, reverseHost: async () => undefined,
      out: (s) => { stdout += s; }, err: (s) => { stderr += s; },
    });
    return { stdout, stderr, exit };
  };

  test('[::1] is loopback: the API answers without a token', async () => {
    const r = await call(base, 'GET', '/v1/services');
    assert.equal(r.status, 200, r.text);
  });

  test('malformed IPv6 in a body, a path or a batch is a 400 naming the field, and nothing changes', async () => {
    const before = (await call(base, 'GET', '/v1/services')).json;
    const bad = await call(base, 'POST', '/v1/services', { protocol: 'tcp', address: '2001:db8::zz', port: 80 });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json.problems, ["address: '2001:db8::zz' is not an IPv4 or IPv6 address"]);
    const mapped = await call(base, 'POST', '/v1/services', { protocol: 'tcp', address: '::ffff:198.18.0.7', port: 80 });
    assert.equal(mapped.status, 400);
    assert.match(mapped.json.message, /IPv4-mapped address: write the IPv4 address/);
    const server = await call(base, 'POST', `/v1/services/${encodeURIComponent('tcp:198.18.0.100:80')}/servers`, { address: '[2001:db8::1]', port: 80 });
    assert.equal(server.status, 400);
    assert.deepEqual(server.json.problems, ["address: '[2001:db8::1]' is not an IPv4 or IPv6 address"]);
    const mixed = await call(base, 'POST', `/v1/services/${encodeURIComponent('tcp:198.18.0.100:80')}/servers`, { address: '2001:db8::10', port: 80, method: 'nat' });
    assert.equal(mixed.status, 400);
    assert.match(mixed.json.message, /an IPv6 real server in an IPv4 service: different families only with method tun/);
    const path404 = await call(base, 'GET', `/v1/services/${encodeURIComponent('tcp:[2001:db8::zz]:80')}`);
    assert.equal(path404.status, 404);
    const batch = await call(base, 'POST', '/v1/batch', { ops: [{ method: 'POST', path: '/v1/services', body: { protocol: 'udp', address: '2001:db8::1:2:3:4:5:6', port: 53 } }] });
    assert.equal(batch.status, 200, batch.text);
    assert.equal(batch.json.results[0].status, 400);
    assert.match(batch.json.results[0].problems.join(), /services\[0\]|address/);
    const cfg = await call(base, 'PUT', '/v1/config', '-A -t [2001:db8::100]:80 -s rr\n-a -t [2001:db8::100]:80 -r 198.18.2.10:80 -m\n');
    assert.equal(cfg.status, 400, cfg.text);
    assert.match(cfg.text, /Different address family is allowed only for tunneling servers/);
    assert.deepEqual((await call(base, 'GET', '/v1/services')).json, before);
    const conn = await call(base, 'GET', `/v1/connections?service=${encodeURIComponent('tcp:[2001:db8::zz]:80')}`);
    assert.equal(conn.status, 400);
    assert.match(conn.json.message, /service: 'tcp:\[2001:db8::zz\]:80'|\[2001:db8::zz\]:80' is not address:port/);
    // IPv6 filters are the dataplane's as IPv4 ones (none of these has a connection here)
    for (const q of ['client=2001:db8::1', `service=${encodeURIComponent('tcp:[2001:db8::100]:80')}`, `server=${encodeURIComponent('[2001:db8::10]:8080')}`]) {
      const r = await call(base, 'GET', `/v1/connections?${q}`);
      assert.equal(r.status, 200, `${q}: ${r.text}`);
      assert.deepEqual(r.json.connections, [], q);
    }
  });

  test('fvsadm refuses bad IPv6 arguments with ipvsadm\'s words, before asking the director', async () => {
    assert.deepEqual(await fvsadm(['-A', '-t', '[2001:db8::zz]:80']), { stdout: '', stderr: 'illegal virtual server address[:port] specified\n', exit: 2 });
    assert.deepEqual(await fvsadm(['-A', '-t', '[2001:db8::1]:80', '-p', '-M', '129']), { stdout: '', stderr: 'illegal ipv6 netmask specified\n', exit: 2 });
    assert.deepEqual(await fvsadm(['-A', '-6', '-f', '5']), { stdout: '', stderr: '-6 used before -f\n\n', exit: 2 });
  });

  test('IPv6 services: bracketed ids in any spelling, fvsadm listings and -S as ipvsadm, PUT /v1/config reads -S back',
    async () => {
      const made = await call(base, 'POST', '/v1/services', { protocol: 'tcp', address: '2001:DB8:0::100', port: 80, scheduler: 'rr',
        persistence: { timeout: 60, netmask: 64 }, realServers: [{ address: '2001:db8::10', port: 8080, method: 'nat', weight: 3 }] });
      assert.equal(made.status, 201, made.text);
      assert.equal(made.json.id, 'tcp:[2001:db8::100]:80');
      assert.equal(made.json.realServers[0].id, '[2001:db8::10]:8080');
      const got = await call(base, 'GET', `/v1/services/${encodeURIComponent('tcp:[2001:db8:0:0:0:0:0:100]:80')}`);
      assert.equal(got.status, 200);
      const drained = await call(base, 'PATCH', `/v1/services/tcp:[2001:db8::100]:80/servers/${encodeURIComponent('[2001:DB8::10]:8080')}`, { weight: 0 });
      assert.equal(drained.status, 200, drained.text);
      assert.equal((await fvsadm(['-a', '-t', '[2001:db8::100]:80', '-r', '2001:db8::11', '-i'])).exit, 0);
      // An IPv4 tunnel server in this IPv6 service (IPv6 in IPv4), as the kernel takes it; NAT
      // across families is refused with ipvsadm's words.
      assert.deepEqual(await fvsadm(['-a', '-t', '[2001:db8::100]:80', '-r', '198.18.2.10', '-i']), { stdout: '', stderr: '', exit: 0 });
      const natMixed = await fvsadm(['-a', '-t', '[2001:db8::100]:80', '-r', '198.18.2.11', '-m']);
      assert.equal(natMixed.exit, 2);
      assert.match(natMixed.stderr, /^Different address family is allowed only for tunneling servers\n/);
      // And the other way: an IPv6 tunnel server in an IPv4 service (IPv4 in IPv6).
      assert.equal((await fvsadm(['-A', '-t', '198.18.1.100:80', '-s', 'wlc'])).exit, 0);
      // (a tunnel server's port is the service's, as ipvsadm sets it)
      assert.deepEqual(await fvsadm(['-a', '-t', '198.18.1.100:80', '-r', '[2001:db8::12]:8080', '-i', '-w', '2']), { stdout: '', stderr: '', exit: 0 });
      assert.equal((await fvsadm(['-Ln', '-t', '198.18.1.100:80'])).stdout,
        'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
        'TCP  198.18.1.100:80 wlc\n' +
        '  -> [2001:db8::12]:80            Tunnel  2      0          0         \n');
      assert.equal((await fvsadm(['-A', '-f', '5', '-6', '-s', 'sh'])).exit, 0);
      const ln = await fvsadm(['-Ln', '-t', '[2001:db8::100]:80']);
      assert.equal(ln.stdout, 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
        'TCP  [2001:db8::100]:80 rr persistent 60 mask 64\n' +
        '  -> 198.18.2.10:80               Tunnel  1      0          0         \n' +  // IPv4 sorts first (libipvs)
        '  -> [2001:db8::10]:8080          Masq    0      0          0         \n' +
        '  -> [2001:db8::11]:80            Tunnel  1      0          0         \n');
      const saved = await fvsadm(['-S', '-n']);
      assert.match(saved.stdout, /^-A -t \[2001:db8::100\]:80 -s rr -p 60 -M 64$/m);
      assert.match(saved.stdout, /^-a -t \[2001:db8::100\]:80 -r 198\.18\.2\.10:80 -i -w 1 --tun-type ipip$/m);
      assert.match(saved.stdout, /^-a -t 198\.18\.1\.100:80 -r \[2001:db8::12\]:80 -i -w 2 --tun-type ipip$/m);
      const stats = await fvsadm(['-Ln', '--stats', '-t', '[2001:db8::100]:80']);
      assert.match(stats.stdout, /^ {2}-> 198\.18\.2\.10:80 +0 +0 +0 +0 +0$/m);
      assert.match(saved.stdout, /^-A -f 5 -6 -s sh$/m);
      const restored = await call(base, 'PUT', '/v1/config', saved.stdout);
      assert.equal(restored.status, 200, restored.text);
      assert.equal((await fvsadm(['-S', '-n'])).stdout, saved.stdout);
      const metrics = await call(base, 'GET', '/metrics');
      assert.match(metrics.text, /node_ipvs_backend_weight\{local_address="2001:db8::100",local_port="80",remote_address="2001:db8::10",remote_port="8080",proto="TCP",local_mark=""\} 0/);
    });
});
