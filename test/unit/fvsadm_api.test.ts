// fvsadm's side of the REST API, where ipvsadm has no byte to compare with: which requests a
// command makes and with what bodies (-E and -e keep what is Fulcrum's and not ipvsadm's),
// what a listing shows of the API's JSON (the dataplane's view: health-removed servers hidden,
// the weight in use), how refusals the kernel has no word for are reported, -R parsing every
// line before sending any, and the HTTP client (token, statuses, an unreachable director).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { directorFromEnv, DirectorUnavailable, HttpApi, tokenFromEnv, type ApiClient } from '../../src/client/http';
import { runFvsadm, type FvsadmEnv } from '../../src/ipvsadm/run';
import { serviceFromApi, type ApiService } from '../../src/ipvsadm/model';
import { parseServicesFile } from '../../src/ipvsadm/addr';
import { formatSave, formatTable, NUMERIC } from '../../src/ipvsadm/format';
import { FakeDirector } from './fake_director_api';

const EMPTY = { services: [], timeouts: { tcp: 900, tcpfin: 120, udp: 300 }, daemons: [] };

async function fvsadm(api: ApiClient, argv: string[], stdin = '') {
  let stdout = '', stderr = '';
  const env: FvsadmEnv = {
    program: 'fvsadm', api, readStdin: async () => stdin, services: parseServicesFile('http 80/tcp\n'),
    lookupHost: async () => undefined, reverseHost: async () => undefined,
    out: (s) => { stdout += s; }, err: (s) => { stderr += s; },
  };
  const exit = await runFvsadm(argv, env);
  return { stdout, stderr, exit };
}

/** A director with one NAT service whose config has Fulcrum-only attributes. */
function directorWithChecks() {
  const d = new FakeDirector(EMPTY);
  d.services = [{
    id: 'tcp:10.0.0.1:80', protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wrr',
    healthChecks: [{ type: 'http', path: '/health' }], quorum: 2, sorryServer: { address: '192.168.9.9' }, inhibitOnFailure: true,
    realServers: [
      { id: '192.168.1.10:80', address: '192.168.1.10', port: 80, method: 'nat', weight: 3, healthChecks: [{ type: 'tcp' }], effectiveWeight: 3, inDataplane: true },
      { id: '192.168.1.11:80', address: '192.168.1.11', port: 80, method: 'nat', weight: 2, effectiveWeight: 0, inDataplane: true },
      { id: '192.168.1.12:80', address: '192.168.1.12', port: 80, method: 'nat', weight: 1, effectiveWeight: 1, inDataplane: false },
    ],
  }];
  return d;
}

test('a listing shows the dataplane\'s view: health-removed servers hidden, the weight in use, newest first unsorted', () => {
  const s = serviceFromApi(directorWithChecks().services[0]);
  assert.deepEqual(s.dests.map((d) => [d.address, d.weight]), [['192.168.1.11', 0], ['192.168.1.10', 3]]);
  assert.equal(formatTable([s], { ...NUMERIC, nosort: true }).split('\n')[4], '  -> 192.168.1.11:80              Masq    0      0          0         ');
});

test('FullNAT shows as FullNat and saves as --fullnat, which fvsadm -R reads back', async () => {
  const api: ApiService = { protocol: 'tcp', address: '10.0.0.1', port: 80, realServers: [{ address: '192.168.1.10', port: 8080, method: 'fullnat', weight: 2 }] };
  const s = serviceFromApi(api);
  assert.match(formatTable([s], NUMERIC), /-> 192\.168\.1\.10:8080 +FullNat 2 /);
  const saved = formatSave([s], NUMERIC);
  assert.equal(saved, '-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 192.168.1.10:8080 --fullnat -w 2\n');
  const d = new FakeDirector(EMPTY);
  assert.equal((await fvsadm(d, ['-R'], saved)).exit, 0);
  assert.deepEqual(d.services[0].realServers?.map((r) => [r.address, r.port, r.method, r.weight]), [['192.168.1.10', 8080, 'fullnat', 2]]);
});

test('a SYN-proxied service lists as synproxy and saves as -j enable, which fvsadm -R reads back', async () => {
  const api: ApiService = { protocol: 'tcp', address: '10.0.0.1', port: 80, synproxy: true,
    realServers: [{ address: '192.168.1.10', port: 8080, method: 'nat', weight: 1 }] };
  const s = serviceFromApi(api);
  assert.match(formatTable([s], NUMERIC), /TCP  10\.0\.0\.1:80 wlc synproxy\n/);
  const saved = formatSave([s], NUMERIC);
  assert.equal(saved, '-A -t 10.0.0.1:80 -s wlc -j enable\n-a -t 10.0.0.1:80 -r 192.168.1.10:8080 -m -w 1\n');
  const d = new FakeDirector(EMPTY);
  assert.equal((await fvsadm(d, ['-R'], saved)).exit, 0);
  assert.equal(d.services[0].synproxy, true);
});

test('-E replaces the kernel\'s attributes and keeps Fulcrum\'s (checks, quorum, sorry server) and the real servers', async () => {
  const d = directorWithChecks();
  assert.deepEqual(await fvsadm(d, ['-E', '-t', '10.0.0.1:80', '-s', 'rr', '-p', '60']), { stdout: '', stderr: '', exit: 0 });
  const s = d.services[0];
  assert.deepEqual([s.scheduler, s.persistence, s.quorum, s.inhibitOnFailure, s.healthChecks, s.sorryServer, s.realServers?.length],
    ['rr', { timeout: 60 }, 2, true, [{ type: 'http', path: '/health' }], { address: '192.168.9.9' }, 3]);
});

test('-e replaces weight, method and thresholds and keeps the server\'s own checks', async () => {
  const d = directorWithChecks();
  assert.equal((await fvsadm(d, ['-e', '-t', '10.0.0.1:80', '-r', '192.168.1.10', '-m', '-w', '7'])).exit, 0);
  const r = d.services[0].realServers![0];
  assert.deepEqual([r.weight, r.method, r.healthChecks], [7, 'nat', [{ type: 'tcp' }]]);
});

test('-e of a real server or service that is not there is refused as the kernel refuses it', async () => {
  const d = directorWithChecks();
  assert.deepEqual(await fvsadm(d, ['-e', '-t', '10.0.0.1:80', '-r', '192.168.1.99', '-m', '-w', '7']),
    { stdout: '', stderr: 'No such destination\n', exit: 255 });
  assert.deepEqual(await fvsadm(d, ['-e', '-t', '10.0.0.9:80', '-r', '192.168.1.10', '-m', '-w', '7']),
    { stdout: '', stderr: 'Service not defined\n', exit: 255 });
  assert.deepEqual(await fvsadm(d, ['-e', '-t', '10.0.0.9:80', '-r', '192.168.1.10', '-x', '5', '-y', '10']),
    { stdout: '', stderr: 'Service not defined\n', exit: 255 }, 'a missing service before a bad threshold pair');
  assert.deepEqual(await fvsadm(d, ['-e', '-t', '10.0.0.1:80', '-r', '192.168.1.10', '-x', '5', '-y', '10']),
    { stdout: '', stderr: 'Numerical result out of range\n', exit: 255 }, 'then the pair');
});

test('what the director cannot do is refused as the kernel would, saying why', async () => {
  const d = directorWithChecks();
  assert.deepEqual(await fvsadm(d, ['-A', '-t', '10.0.0.2:80', '--pe', 'sip']),
    { stdout: '', stderr: 'Scheduler or persistence engine not found\n', exit: 255 });
  assert.deepEqual(await fvsadm(d, ['-A', '-t', '10.0.0.1:80', '--pe', 'sip']), { stdout: '', stderr: 'Service already exists\n', exit: 255 });
  assert.deepEqual(await fvsadm(d, ['-a', '-t', '10.0.0.1:80', '-r', '192.168.1.20', '-i', '--tun-type', 'gue', '--tun-port', '6080']), {
    stdout: '', exit: 255,
    stderr: 'Invalid operation.  Possibly wrong module version, address not unicast, ...\nfvsadm: the director tunnels with IPIP only, not gue\n',
  });
});

// What the real ipvsadm 1.31 printed against Linux 6.1's IPVS (lvs-kernel-vm), command by
// command, with the VM's interfaces eth0 and eth1 as the director's ports.
test('sync daemons start, list and stop as ipvsadm shows them on the kernel', async () => {
  const d = directorWithChecks();
  const steps: Array<[string[], string, string, number]> = [
    [['-L', '--daemon'], '', '', 0],
    [['--start-daemon', 'master', '--mcast-interface', 'eth0', '--syncid', '5'], '', '', 0],
    [['-L', '--daemon'], 'master sync daemon (mcast=eth0, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n', '', 0],
    [['--start-daemon', 'master', '--mcast-interface', 'eth0'], '', 'Daemon has already run\n', 255],
    [['--start-daemon', 'backup', '--mcast-interface', 'eth1', '--syncid', '7', '--mcast-group', '239.1.2.3', '--mcast-port', '9000', '--mcast-ttl', '3', '--sync-maxlen', '1000'], '', '', 0],
    [['-L', '-n', '--daemon'], 'master sync daemon (mcast=eth0, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n' +
      'backup sync daemon (mcast=eth1, syncid=7, maxlen=1024, group=239.1.2.3, port=9000, ttl=3)\n', '', 0],
    [['--stop-daemon', 'master'], '', '', 0],
    [['--stop-daemon', 'master'], '', 'No daemon is running\n', 255],
    [['--start-daemon', 'master', '--mcast-interface', 'nosuch'], '', 'No such device\n', 255],
    [['--start-daemon', 'master'], '', '', 0],
    [['-L', '--daemon'], 'master sync daemon (mcast=eth0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n' +
      'backup sync daemon (mcast=eth1, syncid=7, maxlen=1024, group=239.1.2.3, port=9000, ttl=3)\n', '', 0],
  ];
  for (const [args, stdout, stderr, exit] of steps) assert.deepEqual(await fvsadm(d, args), { stdout, stderr, exit }, args.join(' '));
});

test('a body the API refuses (400) is the kernel\'s EINVAL, with the director\'s reason; 403 is EPERM', async () => {
  const refusing = (status: number): ApiClient => ({
    request: async () => ({ status, body: { statusCode: status, message: 'change refused', problems: ['services[0].persistence.netmask: must be a contiguous netmask'] } }),
  });
  assert.deepEqual(await fvsadm(refusing(400), ['-A', '-t', '10.0.0.1:80', '-p', '-M', '255.0.255.0']), {
    stdout: '', exit: 255,
    stderr: 'Invalid operation.  Possibly wrong module version, address not unicast, ...\nfvsadm: the director answered 400: services[0].persistence.netmask: must be a contiguous netmask\n',
  });
  assert.deepEqual(await fvsadm(refusing(403), ['-D', '-t', '10.0.0.1:80']), { stdout: '', stderr: 'Permission denied (you must be root)\n', exit: 255 });
  assert.deepEqual(await fvsadm(refusing(500), ['-Ln']), { stdout: '', stderr: 'fvsadm: the director answered 500: services[0].persistence.netmask: must be a contiguous netmask\n', exit: 1 });
});

test('-C empties the services in one request (the rest of the config stays); -Z -t zeroes that service only', async () => {
  const seen: Array<[string, string, unknown]> = [];
  const api: ApiClient = {
    request: async (method, path, body) => {
      seen.push([method, path, body]);
      if (method === 'GET' && path === '/v1/config') return { status: 200, body: { services: [{ fwmark: 1 }], matchRules: [{ prefix: '10.0.0.0/24', mark: 1 }], timeouts: { tcp: 60 } } };
      if (method === 'GET') return { status: 200, body: { id: 'tcp:10.0.0.1:80', protocol: 'tcp', address: '10.0.0.1', port: 80 } };
      return { status: method === 'PUT' ? 200 : 204, body: null };
    },
  };
  assert.equal((await fvsadm(api, ['-C'])).exit, 0);
  assert.deepEqual(seen.at(-1)?.slice(0, 2), ['DELETE', '/v1/services']);
  assert.equal((await fvsadm(api, ['-Z', '-t', '10.0.0.1:80'])).exit, 0);
  assert.deepEqual(seen.at(-1)?.slice(0, 2), ['POST', '/v1/stats/zero?service=tcp%3A10.0.0.1%3A80']);
});

test('--set keeps the timeouts given as 0 and sends all three', async () => {
  const d = new FakeDirector(EMPTY);
  assert.equal((await fvsadm(d, ['--set', '0', '60', '0'])).exit, 0);
  assert.deepEqual(d.timeouts, { tcp: 900, tcpfin: 60, udp: 300 });
});

test('-R parses every line before applying any: a bad line changes nothing', async () => {
  // This stand-in has no POST /v1/restore (404): fvsadm runs the restore itself, as with a
  // director that leaves it to the client, and sends no write at all.
  const d = new FakeDirector(EMPTY);
  const r = await fvsadm(d, ['-R'], '-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 192.168.1.10 -w many\n');
  assert.deepEqual(r, { stdout: '', stderr: 'illegal weight specified\n', exit: 2 });
  assert.deepEqual(d.log, ['POST /v1/restore?program=fvsadm']);
});

test('an unreachable director is one line naming its address, exit 2', async () => {
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise((r) => closed.close(r));  // nothing listens there now
  const r = await fvsadm(new HttpApi(base), ['-Ln']);
  assert.deepEqual([r.exit, r.stdout, r.stderr], [2, '', `fvsadm: cannot reach the Fulcrum director at ${base} (ECONNREFUSED)\n`]);
});

test('the HTTP client sends the bearer token and JSON, and reads JSON and empty answers', async () => {
  const got: Array<{ method?: string; url?: string; auth?: string; type?: string; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      got.push({ method: req.method, url: req.url, auth: req.headers.authorization, type: req.headers['content-type'], body });
      if (req.headers.authorization !== 'Bearer s3cret') { res.writeHead(401, { 'content-type': 'application/json' }).end('{"statusCode":401}'); return; }
      if (req.method === 'DELETE') { res.writeHead(204).end(); return; }
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end('[{"protocol":"tcp","address":"10.0.0.1","port":80}]');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const api = new HttpApi(base + '/', 's3cret');
    assert.deepEqual(await api.request('GET', '/v1/services'), { status: 200, body: [{ protocol: 'tcp', address: '10.0.0.1', port: 80 }] });
    assert.deepEqual(await api.request('DELETE', '/v1/services/tcp%3A10.0.0.1%3A80'), { status: 204, body: '' });
    await api.request('POST', '/v1/services', { protocol: 'tcp' });
    assert.deepEqual(got.at(-1), { method: 'POST', url: '/v1/services', auth: 'Bearer s3cret', type: 'application/json', body: '{"protocol":"tcp"}' });
    const r = await fvsadm(new HttpApi(base, 'wrong'), ['-Ln']);
    assert.deepEqual([r.exit, r.stderr], [2, `fvsadm: the Fulcrum director at ${base} wants a valid token (set FULCRUM_TOKEN or FULCRUM_TOKEN_FILE)\n`]);
  } finally {
    server.close();
  }
});

test('the token comes from FULCRUM_TOKEN, else the first line of FULCRUM_TOKEN_FILE', () => {
  assert.equal(tokenFromEnv({ FULCRUM_TOKEN: 'abc', FULCRUM_TOKEN_FILE: '/nonexistent' }), 'abc');
  assert.equal(tokenFromEnv({}), undefined);
  assert.throws(() => tokenFromEnv({ FULCRUM_TOKEN_FILE: '/nonexistent/token' }), /cannot read the token file \/nonexistent\/token \(ENOENT\)/);
});

test('the director comes from FULCRUM_API (default the local one); its token is read on the first request only', async () => {
  assert.equal(directorFromEnv({}).base, 'http://127.0.0.1:9390');
  const d = directorFromEnv({ FULCRUM_API: 'http://127.0.0.1:1', FULCRUM_TOKEN_FILE: '/nonexistent/token' });
  assert.equal(d.base, 'http://127.0.0.1:1');
  await assert.rejects(d.request('GET', '/v1/services'), (e) => e instanceof DirectorUnavailable && /cannot read the token file/.test(e.message));
});

test('IPv6: the API names services and servers by bracketed, canonical ids; -M is a prefix; -f N -6 is family ipv6; FullNAT may take IPv4 servers', async () => {
  const d = new FakeDirector(EMPTY);
  const posted: unknown[] = [];
  const api: ApiClient = { request: async (m, p, b) => { if (m === 'POST') posted.push(b); return d.request(m, p, b); } };
  assert.equal((await fvsadm(api, ['-A', '-t', '[2001:DB8::100]:80', '-s', 'rr', '-p', '60', '-M', '64'])).exit, 0);
  assert.deepEqual(posted[0], { protocol: 'tcp', address: '2001:db8::100', port: 80, scheduler: 'rr', persistence: { timeout: 60, netmask: 64 } });
  assert.equal((await fvsadm(api, ['-a', '-t', '[2001:db8:0::100]:80', '-r', '[2001:db8::10]:8080', '-m'])).exit, 0);
  assert.equal(d.log.at(-1), `POST /v1/services/${encodeURIComponent('tcp:[2001:db8::100]:80')}/servers`);
  assert.equal((await fvsadm(api, ['-e', '-t', '[2001:db8::100]:80', '-r', '[2001:db8::10]:8080', '-m', '-w', '4'])).exit, 0);
  assert.equal(d.log.at(-1), `PUT /v1/services/${encodeURIComponent('tcp:[2001:db8::100]:80')}/servers/${encodeURIComponent('[2001:db8::10]:8080')}`);
  assert.equal((await fvsadm(api, ['-a', '-t', '[2001:db8::100]:80', '-r', '198.18.2.10', '--fullnat'])).exit, 0);
  assert.deepEqual(await fvsadm(api, ['-a', '-t', '[2001:db8::100]:80', '-r', '198.18.2.11', '-m']),
    { stdout: '', stderr: 'Different address family is allowed only for tunneling servers\n', exit: 2 });
  assert.equal((await fvsadm(api, ['-A', '-f', '5', '-6', '-p', '-M', '48'])).exit, 0);
  assert.deepEqual(posted.at(-1), { fwmark: 5, family: 'ipv6', scheduler: 'wlc', persistence: { timeout: 360, netmask: 48 } });
  assert.deepEqual(d.services.map((s) => s.id), ['tcp:[2001:db8::100]:80', 'fwmark6:5']);
  assert.equal((await fvsadm(api, ['-S', '-n'])).stdout, '-A -t [2001:db8::100]:80 -s rr -p 60 -M 64\n' +
    '-a -t [2001:db8::100]:80 -r 198.18.2.10:80 --fullnat -w 1\n-a -t [2001:db8::100]:80 -r [2001:db8::10]:8080 -m -w 4\n' +
    '-A -f 5 -6 -s wlc -p 360 -M 48\n');
});
