// Each health check type against real servers on 127.0.0.1 started here: what passes, what
// fails and why, with keepalived's meaning (HTTP_GET/SSL_GET, UDP_CHECK, DNS_CHECK, MISC_CHECK)
// plus the load agent; every check settles, even when the server never answers. TCP_CHECK has
// its own file (health_tcp_checker.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  checkAgent, checkCommand, checkDns, checkHttp, checkUdp, dnsQuery, parseAgentReply, runCheck,
} from '../../src/control/health/checkers';

const LOCAL = '127.0.0.1';

/** Listens on 127.0.0.1; close() also ends the connections the server still holds. */
async function listen(server: net.Server): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  server.on(server instanceof https.Server ? 'secureConnection' : 'connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, LOCAL, resolve));
  const port = (server.address() as net.AddressInfo).port;
  const close = () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const s of sockets) s.destroy();
  });
  return { port, close };
}

/** A UDP socket bound to 127.0.0.1 that answers with reply(msg) (nothing when it returns undefined). */
async function udpServer(reply: (msg: Buffer) => Buffer | undefined) {
  const sock = dgram.createSocket('udp4');
  const seen: Buffer[] = [];
  sock.on('message', (msg, rinfo) => {
    seen.push(msg);
    const out = reply(msg);
    if (out) sock.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, LOCAL, resolve));
  return { port: sock.address().port, seen, close: () => new Promise<void>((resolve) => sock.close(() => resolve())) };
}

/** A port nothing listens on (TCP and UDP alike, as far as these tests go). */
async function closedPort(): Promise<number> {
  const { port, close } = await listen(net.createServer());
  await close();
  return port;
}

test('a real server without a port (fwmark service) fails a check that names none', async () => {
  for (const type of ['http', 'udp', 'dns', 'agent'] as const) {
    const r = await runCheck({ type } as never, { address: LOCAL });
    assert.equal(r.ok, false);
    assert.match(r.detail, /no port to check/, type);
  }
});

test('http: GET with KeepAliveClient and Host address:port by default, or the configured host', async () => {
  const seen: http.IncomingHttpHeaders[] = [];
  const paths: string[] = [];
  const srv = await listen(http.createServer((req, res) => {
    seen.push(req.headers);
    paths.push(req.url ?? '');
    res.end('hello');
  }));
  const target = { address: LOCAL, port: srv.port };
  assert.equal((await checkHttp({ type: 'http' }, target)).ok, true);
  assert.equal((await checkHttp({ type: 'http', path: '/health', host: 'www.example.com' }, target)).ok, true);
  assert.equal(seen[0]['user-agent'], 'KeepAliveClient');
  assert.equal(seen[0].host, `${LOCAL}:${srv.port}`);
  assert.deepEqual(paths, ['/', '/health']);
  assert.equal(seen[1].host, 'www.example.com');
  await srv.close();
});

test('IPv6 real servers: http sends Host [address]:port, udp goes out over IPv6', async () => {
  const seen: string[] = [];
  const web = http.createServer((req, res) => { seen.push(req.headers.host ?? ''); res.end('hello'); });
  await new Promise<void>((resolve) => web.listen({ host: '::1', port: 0, ipv6Only: true }, resolve));
  const port = (web.address() as net.AddressInfo).port;
  const r = await checkHttp({ type: 'http' }, { address: '::1', port });
  assert.equal(r.ok, true, r.detail);
  assert.deepEqual(seen, [`[::1]:${port}`]);
  await new Promise<void>((resolve) => web.close(() => resolve()));
  const closed = await checkHttp({ type: 'http', timeout: 2 }, { address: '::1', port });
  assert.match(closed.detail, new RegExp(`^GET / from \\[::1\\]:${port}: .*ECONNREFUSED`));
  const sock = dgram.createSocket({ type: 'udp6', ipv6Only: true });
  await new Promise<void>((resolve) => sock.bind(0, '::1', resolve));
  sock.on('message', (m, from) => sock.send(Buffer.concat([Buffer.from('ok:'), m]), from.port, from.address));
  const u = await checkUdp({ type: 'udp', payload: 'cafe', requireReply: '6f6b3a' }, { address: '::1', port: sock.address().port });
  sock.close();
  assert.equal(u.ok, true, u.detail);
});

test('http: the status must be in statusCodes, 200-299 by default', async () => {
  let status = 503;
  const srv = await listen(http.createServer((_req, res) => {
    res.statusCode = status;
    res.end();
  }));
  const target = { address: LOCAL, port: srv.port };
  const bad = await checkHttp({ type: 'http' }, target);
  assert.equal(bad.ok, false);
  assert.match(bad.detail, /status 503, expected 200-299/);
  assert.equal((await checkHttp({ type: 'http', statusCodes: ['200', '503'] }, target)).ok, true);
  status = 302;
  assert.equal((await checkHttp({ type: 'http', statusCodes: ['300-399'] }, target)).ok, true);
  assert.equal((await checkHttp({ type: 'http', statusCodes: ['200-299', '301'] }, target)).ok, false);
  status = 204;
  assert.equal((await checkHttp({ type: 'http' }, target)).ok, true);
  await srv.close();
});

test('http: with a digest, the body\'s MD5 must match', async () => {
  const body = 'the page as genhash saw it\n'.repeat(1000);
  const md5 = crypto.createHash('md5').update(body).digest('hex');
  const srv = await listen(http.createServer((_req, res) => res.end(body)));
  const target = { address: LOCAL, port: srv.port };
  const good = await checkHttp({ type: 'http', digest: md5 }, target);
  assert.equal(good.ok, true, good.detail);
  const bad = await checkHttp({ type: 'http', digest: '0'.repeat(32) }, target);
  assert.equal(bad.ok, false);
  assert.match(bad.detail, new RegExp(`body MD5 ${md5}, expected 0{32}`));
  await srv.close();
});

test('http: a server that accepts but never answers fails at the timeout, and a closed port at once', async () => {
  const srv = await listen(net.createServer((s) => s.resume()));  // reads the request, never answers
  const t0 = Date.now();
  const r = await checkHttp({ type: 'http', timeout: 0.2 }, { address: LOCAL, port: srv.port });
  const took = Date.now() - t0;
  assert.equal(r.ok, false);
  assert.match(r.detail, /within 0.2s/);
  assert.ok(took >= 190 && took < 1500, `took ${took} ms`);
  await srv.close();
  const refused = await checkHttp({ type: 'http' }, { address: LOCAL, port: await closedPort() });
  assert.equal(refused.ok, false);
  assert.match(refused.detail, /ECONNREFUSED/);
});

test('https: a self-signed certificate is accepted (SSL_GET does not verify) and the digest still counts', async (t) => {
  if (spawnSync('openssl', ['version']).error) return t.skip('openssl is not installed: cannot make a certificate');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-keyout', key, '-out', cert], { stdio: 'pipe' });
  assert.equal(made.status, 0, made.stderr.toString());
  const srv = await listen(https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
    res.end(req.headers['user-agent']);
  }));
  const target = { address: LOCAL, port: srv.port };
  const good = await checkHttp({ type: 'https', digest: crypto.createHash('md5').update('KeepAliveClient').digest('hex') }, target);
  assert.equal(good.ok, true, good.detail);
  const bad = await checkHttp({ type: 'https', statusCodes: ['404'] }, target);
  assert.equal(bad.ok, false);
  assert.match(bad.detail, /status 200, expected 404/);
  // Plain HTTP to a TLS port is not an answer.
  assert.equal((await checkHttp({ type: 'http', timeout: 0.5 }, target)).ok, false);
  await srv.close();
});

test('udp with requireReply: a reply starting with it, within the length bounds, is up', async () => {
  const srv = await udpServer((msg) => Buffer.concat([Buffer.from('ok:'), msg]));
  const target = { address: LOCAL, port: srv.port };
  const good = await checkUdp({ type: 'udp', payload: 'cafe', requireReply: '6f6b3a' }, target);
  assert.equal(good.ok, true, good.detail);
  assert.equal(srv.seen[0].toString('hex'), 'cafe');
  const wrong = await checkUdp({ type: 'udp', payload: 'cafe', requireReply: '6e6f' }, target);
  assert.equal(wrong.ok, false);
  assert.match(wrong.detail, /does not start with 6e6f/);
  const long = await checkUdp({ type: 'udp', payload: 'cafe', requireReply: '', maxReplyLength: 4 }, target);
  assert.equal(long.ok, false);
  assert.match(long.detail, /5 bytes, longer than 4/);
  const short = await checkUdp({ type: 'udp', payload: 'cafe', requireReply: '', minReplyLength: 6 }, target);
  assert.equal(short.ok, false);
  await checkUdp({ type: 'udp', requireReply: '' }, target);
  assert.equal(srv.seen.at(-1)!.length, 16, 'without a payload, 16 random bytes are sent');
  await srv.close();
});

test('udp with requireReply: silence is down', async () => {
  const srv = await udpServer(() => undefined);
  const r = await checkUdp({ type: 'udp', timeout: 0.2, requireReply: '00' }, { address: LOCAL, port: srv.port });
  assert.equal(r.ok, false);
  assert.match(r.detail, /no reply .* within 0.2s/);
  await srv.close();
});

test('udp without requireReply: silence is up, an ICMP port unreachable is down', async () => {
  const srv = await udpServer(() => undefined);
  const quiet = await checkUdp({ type: 'udp', timeout: 0.2 }, { address: LOCAL, port: srv.port });
  assert.equal(quiet.ok, true, quiet.detail);
  assert.match(quiet.detail, /no ICMP error/);
  await srv.close();
  const t0 = Date.now();
  const refused = await checkUdp({ type: 'udp', timeout: 2 }, { address: LOCAL, port: srv.port });
  assert.equal(refused.ok, false);
  assert.match(refused.detail, /ICMP port unreachable/);
  assert.ok(Date.now() - t0 < 1000, 'the ICMP error ends the check before the timeout');
});

/** A DNS server whose answer to each query is made by answer(id, query). */
function dnsServer(answer: (id: number, query: Buffer) => { id?: number; flags: number }) {
  return udpServer((q) => {
    const { id = q.readUInt16BE(0), flags } = answer(q.readUInt16BE(0), q);
    const r = Buffer.from(q);
    r.writeUInt16BE(id, 0);
    r.writeUInt16BE(flags, 2);
    return r;
  });
}

test('dns: the query is name/type with RD set, and a NOERROR response with its ID is up', async () => {
  const srv = await dnsServer(() => ({ flags: 0x8180 }));
  const r = await checkDns({ type: 'dns', name: 'example.com', queryType: 'A' }, { address: LOCAL, port: srv.port });
  assert.equal(r.ok, true, r.detail);
  const q = srv.seen[0];
  assert.equal(q.readUInt16BE(2), 0x0100, 'RD set, nothing else');
  assert.equal(q.readUInt16BE(4), 1, 'one question');
  assert.deepEqual(q.subarray(12), Buffer.from('076578616d706c6503636f6d00' + '0001' + '0001', 'hex'));
  // The default: the root's SOA.
  await checkDns({ type: 'dns' }, { address: LOCAL, port: srv.port });
  assert.deepEqual(srv.seen[1].subarray(12), Buffer.from('00' + '0006' + '0001', 'hex'));
  await checkDns({ type: 'dns' }, { address: LOCAL, port: srv.port });
  await checkDns({ type: 'dns' }, { address: LOCAL, port: srv.port });
  assert.ok(new Set(srv.seen.map((m) => m.readUInt16BE(0))).size > 1, 'each query has a random ID');
  await srv.close();
});

test('dns: a response with an error rcode is down', async () => {
  const srv = await dnsServer(() => ({ flags: 0x8183 }));
  const r = await checkDns({ type: 'dns', name: 'nowhere.example' }, { address: LOCAL, port: srv.port });
  assert.equal(r.ok, false);
  assert.match(r.detail, /rcode 3 \(NXDOMAIN\)/);
  await srv.close();
});

test('dns: a response with another ID is ignored, so the check times out; a query echoed back is down', async () => {
  const wrongId = await dnsServer((id) => ({ id: id ^ 0xffff, flags: 0x8180 }));
  const r = await checkDns({ type: 'dns', timeout: 0.2 }, { address: LOCAL, port: wrongId.port });
  assert.equal(r.ok, false);
  assert.match(r.detail, /within 0.2s \(ignored 1 with another ID\)/);
  await wrongId.close();
  const echo = await dnsServer(() => ({ flags: 0x0100 }));
  const e = await checkDns({ type: 'dns' }, { address: LOCAL, port: echo.port });
  assert.equal(e.ok, false);
  assert.match(e.detail, /not a response/);
  await echo.close();
  const refused = await checkDns({ type: 'dns', timeout: 2 }, { address: LOCAL, port: await closedPort() });
  assert.match(refused.detail, /ICMP port unreachable/);
});

test('dnsQuery refuses labels longer than 63 bytes', () => {
  assert.throws(() => dnsQuery(1, `${'a'.repeat(64)}.example`, 'A'), /longer than 63/);
  assert.equal(dnsQuery(0x1234, 'a.b.', 'MX').toString('hex'), '123401000001000000000000' + '016101620000' + '0f0001');
});

test('command: exit 0 is up, anything else down; the target is in the environment', async () => {
  const target = { address: '192.0.2.7', port: 8080 };
  assert.equal((await checkCommand({ type: 'command', command: ['true'] }, target)).ok, true);
  const one = await checkCommand({ type: 'command', command: ['false'] }, target);
  assert.deepEqual(one, { ok: false, detail: 'exit 1' });
  const seven = await checkCommand({ type: 'command', command: ['sh', '-c', 'exit 7'] }, target);
  assert.deepEqual(seven, { ok: false, detail: 'exit 7' }, 'without dynamic, 2..255 are failures');
  const env = await checkCommand({ type: 'command',
    command: ['sh', '-c', 'test "$FULCRUM_CHECK_ADDRESS:$FULCRUM_CHECK_PORT" = 192.0.2.7:8080'] }, target);
  assert.equal(env.ok, true, env.detail);
  const missing = await checkCommand({ type: 'command', command: ['/nonexistent/check'] }, target);
  assert.equal(missing.ok, false);
  assert.match(missing.detail, /cannot run \/nonexistent\/check: .*ENOENT/);
});

test('command with dynamic: exit 2..255 is up with weight exit - 2, 1 is down, 0 up keeping the weight', async () => {
  const target = { address: LOCAL, port: 80 };
  const run = (code: number) => checkCommand({ type: 'command', dynamic: true, command: ['sh', '-c', `exit ${code}`] }, target);
  assert.deepEqual(await run(7), { ok: true, detail: 'exit 7: weight 5', weight: 5 });
  assert.deepEqual(await run(2), { ok: true, detail: 'exit 2: weight 0', weight: 0 });
  assert.deepEqual(await run(255), { ok: true, detail: 'exit 255: weight 253', weight: 253 });
  assert.deepEqual(await run(1), { ok: false, detail: 'exit 1' });
  assert.deepEqual(await run(0), { ok: true, detail: 'exit 0' });
});

test('command: at the timeout it gets SIGTERM, then SIGKILL if it ignores that, and is gone', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-cmd-'));
  const pidFile = path.join(dir, 'pid');
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const polite = await checkCommand({ type: 'command', timeout: 0.2, command: ['sleep', '10'] }, { address: LOCAL });
  assert.deepEqual(polite, { ok: false, detail: 'timed out after 0.2s; stopped with SIGTERM' });

  const t0 = Date.now();
  const stubborn = await checkCommand({ type: 'command', timeout: 0.2,
    command: ['sh', '-c', `trap '' TERM; echo $$ > ${pidFile}; exec sleep 10`] }, { address: LOCAL });
  const took = Date.now() - t0;
  assert.deepEqual(stubborn, { ok: false, detail: 'timed out after 0.2s; stopped with SIGKILL' });
  assert.ok(took >= 1100 && took < 3000, `took ${took} ms (timeout + 1 s grace)`);
  assert.equal(alive(Number(fs.readFileSync(pidFile, 'utf8'))), false);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('agent: a load percentage becomes the idle share; drain/down and nonsense are down', () => {
  assert.deepEqual(parseAgentReply('75%\n'), { ok: true, detail: 'load 75%', weightFactor: 0.25 });
  assert.deepEqual(parseAgentReply('75'), { ok: true, detail: 'load 75%', weightFactor: 0.25 });
  assert.equal(parseAgentReply('0%\r\n').weightFactor, 1);
  assert.equal(parseAgentReply('100%').weightFactor, 0);
  assert.equal(parseAgentReply('12.5 %').weightFactor, 0.875);
  assert.equal(parseAgentReply('drain').ok, false);
  assert.equal(parseAgentReply('DOWN maintenance').ok, false);
  assert.match(parseAgentReply('busy').detail, /not a load percentage/);
  assert.match(parseAgentReply('150%').detail, /over 100/);
  assert.equal(parseAgentReply('').ok, false);
  assert.equal(parseAgentReply('-5%').ok, false);
});

test('agent over tcp reads one line; over http the body of a 2xx', async () => {
  let line = '75%\n';
  const agent = await listen(net.createServer((s) => s.end(line)));
  const target = { address: LOCAL, port: agent.port };
  assert.deepEqual(await checkAgent({ type: 'agent' }, target), { ok: true, detail: 'load 75%', weightFactor: 0.25 });
  line = 'drain\n';
  assert.equal((await checkAgent({ type: 'agent' }, target)).ok, false);
  await agent.close();
  assert.match((await checkAgent({ type: 'agent' }, target)).detail, /ECONNREFUSED/);

  // An agent that keeps the connection open after its line still counts at the newline.
  const chatty = await listen(net.createServer((s) => s.write('40%\nmore later')));
  assert.equal((await checkAgent({ type: 'agent', timeout: 1 }, { address: LOCAL, port: chatty.port })).weightFactor, 0.6);
  await chatty.close();

  let status = 200;
  const web = await listen(http.createServer((req, res) => {
    res.statusCode = status;
    res.end(req.url === '/load' ? '20%' : 'nope');
  }));
  const wt = { address: LOCAL, port: web.port };
  assert.equal((await checkAgent({ type: 'agent', protocol: 'http', path: '/load' }, wt)).weightFactor, 0.8);
  assert.equal((await checkAgent({ type: 'agent', protocol: 'http' }, wt)).ok, false);
  status = 500;
  assert.match((await checkAgent({ type: 'agent', protocol: 'http', path: '/load' }, wt)).detail, /status 500/);
  await web.close();
});

test('an aborted check settles at once as a failure and lets its server go', async () => {
  let open = 0;
  const srv = await listen(net.createServer((s) => {
    open++;
    s.resume();
    s.on('close', () => open--);
  }));
  const ac = new AbortController();
  const pending = checkHttp({ type: 'http', timeout: 10 }, { address: LOCAL, port: srv.port }, { signal: ac.signal });
  while (open === 0) await new Promise((r) => setTimeout(r, 10));
  const t0 = Date.now();
  ac.abort();
  assert.deepEqual(await pending, { ok: false, detail: 'aborted' });
  assert.ok(Date.now() - t0 < 100);
  while (open > 0) await new Promise((r) => setTimeout(r, 10));
  await srv.close();
  const cmd = checkCommand({ type: 'command', timeout: 10, command: ['sleep', '10'] }, { address: LOCAL }, { signal: AbortSignal.timeout(50) });
  assert.deepEqual(await cmd, { ok: false, detail: 'aborted' });
});
