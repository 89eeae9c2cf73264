// The native fvsadm (native/fvsadm, the installed /usr/sbin/fvsadm) against a running director
// with a token: for every kind of command (writes and their refusals, every listing, -S, -R
// from stdin with a bad line, help, usage errors, bad addresses) it prints byte for byte what
// the JS fvsadm prints, on the same streams, with the same exit status, starting from the same
// table; it does so without Node (run with no node on PATH), except for names, which it hands
// to the JS fvsadm. Its errors read as the JS client's (no token, a wrong one, an unreadable
// token file, no director), a closed pipe ends it quietly, and garbage from a fake director on
// loopback is a clear error (exit 2), never a crash, also under AddressSanitizer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { cannotRun, root } from './harness';
import { nullConfig, Serve } from './serve_harness';

const skip = cannotRun();
const port = 19396;
const base = `http://127.0.0.1:${port}`;
const native = path.join(root, 'build/native/Release/fvsadm');
const js = path.join(root, 'bin/fvsadm.js');
const TOKEN = 'native-fvsadm-token-0123456789';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-fvsadm-native-'));
const tokenFile = path.join(dir, 'token');
fs.writeFileSync(tokenFile, `${TOKEN}\n`);
const serve = new Serve(path.join(dir, 'fulcrum.yaml'), path.join(dir, 'state'));

before(async () => {
  if (skip) return;
  fs.writeFileSync(serve.cfgFile, YAML.stringify(nullConfig(port, { services: [], api: { listen: `127.0.0.1:${port}`, tokenFile } })));
  await serve.start();
});
after(async () => {
  await serve.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Run { stdout: string; stderr: string; exit: number | null }
const env = (extra: Record<string, string> = {}) =>
  ({ ...process.env, FULCRUM_API: base, FULCRUM_TOKEN_FILE: tokenFile, FULCRUM_TOKEN: '', ...extra });
function runJs(argv: string[], stdin = '', extra: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [js, ...argv], { input: stdin, encoding: 'utf8', env: env(extra) });
  return { stdout: r.stdout, stderr: r.stderr, exit: r.status };
}
/** With no node on PATH unless `names`: what it prints is then its own and the director's. */
function runNative(argv: string[], stdin = '', extra: Record<string, string> = {}, names = false): Run {
  const r = spawnSync(native, argv, { input: stdin, encoding: 'utf8', env: env({ ...(names ? {} : { PATH: '/nonexistent' }), ...extra }) });
  return { stdout: r.stdout, stderr: r.stderr, exit: r.status };
}

async function reset() {
  const authorization = `Bearer ${TOKEN}`;
  assert.equal((await fetch(`${base}/v1/services`, { method: 'DELETE', headers: { authorization } })).status, 204);
  const t = await fetch(`${base}/v1/timeouts`, { method: 'PUT', headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify({ tcp: 900, tcpfin: 120, udp: 300 }) });
  assert.equal(t.status, 200);
}

interface Step { argv: string[]; stdin?: string; names?: true }
// 40 services of 4 real servers (the director's maxServices is 64), and 5,000 --set lines: a
// stdin of 130 kB, all answered by the director as one change
const restore = Array.from({ length: 40 }, (_, i) => `-A -t 10.4.0.${i}:80 -s wrr\n` +
  Array.from({ length: 4 }, (_, j) => `-a -t 10.4.0.${i}:80 -r 192.168.8.${i * 4 + j}:8080 -m -w ${(i + j) % 7}\n`).join('')).join('') +
  Array.from({ length: 5000 }, (_, i) => `--set 0 0 ${100 + i}\n`).join('');
const steps: Step[] = [
  { argv: ['-Ln'] },
  { argv: ['-L'] },
  { argv: [] },
  { argv: ['-A', '-t', '10.3.0.1:80', '-s', 'rr'] },
  { argv: ['-A', '-t', '10.3.0.1:80', '-s', 'rr'] },
  { argv: ['-A', '-u', '10.3.0.2:53', '-s', 'wlc', '-p', '60'] },
  { argv: ['-A', '-f', '7', '-s', 'sh', '-b', 'sh-port'] },
  { argv: ['-A', '-t', '10.3.0.3:80', '-s', 'nosuch'] },
  { argv: ['-a', '-t', '10.3.0.1:80', '-r', '192.168.7.1:8080', '-m', '-w', '2'] },
  { argv: ['-a', '-t', '10.3.0.1:80', '-r', '192.168.7.2', '-g'] },
  { argv: ['-a', '-t', '10.3.0.1:80', '-r', '192.168.7.1:8080', '-m'] },
  { argv: ['-a', '-t', '10.3.0.9:80', '-r', '192.168.7.1:8080', '-m'] },
  { argv: ['-a', '-f', '7', '-r', '192.168.7.5:0', '-m'] },
  { argv: ['-e', '-t', '10.3.0.1:80', '-r', '192.168.7.1:8080', '-m', '-w', '5', '-x', '100', '-y', '10'] },
  { argv: ['-e', '-t', '10.3.0.1:80', '-r', '192.168.7.3:8080', '-m', '-w', '5'] },
  { argv: ['-e', '-t', '10.3.0.1:80', '-r', '192.168.7.1:8080', '-m', '-x', '5', '-y', '10'] },
  { argv: ['-E', '-t', '10.3.0.1:80', '-s', 'wrr'] },
  { argv: ['-Ln'] }, { argv: ['-Ln', '--stats'] }, { argv: ['-Ln', '--rate'] }, { argv: ['-Ln', '--thresholds'] },
  { argv: ['-Ln', '--persistent-conn'] }, { argv: ['-Lnc'] }, { argv: ['-Ln', '--timeout'] }, { argv: ['-Ln', '--daemon'] },
  { argv: ['-Ln', '--exact', '--stats'] }, { argv: ['-S', '-n'] }, { argv: ['-L', '-n', '-t', '10.3.0.1:80'] },
  { argv: ['-L', '-n', '-t', '10.9.9.9:80'] }, { argv: ['-L', '-n', '-c', '--stats'] },
  { argv: ['-Z'] }, { argv: ['-Z', '-t', '10.3.0.1:80'] }, { argv: ['-Z', '-t', '10.9.9.9:80'] },
  { argv: ['--set', '0', '60', '0'] }, { argv: ['-Ln', '--timeout'] },
  { argv: ['-d', '-t', '10.3.0.1:80', '-r', '192.168.7.2'] }, { argv: ['-d', '-t', '10.3.0.1:80', '-r', '192.168.7.2'] },
  { argv: ['-D', '-u', '10.3.0.2:53'] }, { argv: ['-D', '-u', '10.3.0.2:53'] },
  { argv: ['--start-daemon', 'master'] }, { argv: ['--stop-daemon', 'master'] },
  { argv: ['-h'] }, { argv: ['--help'] }, { argv: ['-v'] }, { argv: ['-Q'] }, { argv: ['-A'] }, { argv: ['-A', '-t'] },
  // what is no address or port number may be a name: this machine's resolver and /etc/services say
  { argv: ['-A', '-t', '300.1.1.1:80'], names: true }, { argv: ['-A', '-t', '10.3.0.5'] },
  { argv: ['-A', '-t', '10.3.0.5:99999'], names: true },
  { argv: ['-A', '-t', '[::1]:80'] }, { argv: ['-a', '-t', '10.3.0.1:80', '-r', '192.168.7.9:8080', '-w', '99999999'] },
  // IPv6 arguments pass through as they are: bad forms (one that is no IPv6 address may be a
  // host name, as in ipvsadm), the prefix, mixed families, bracketed lookups
  { argv: ['-A', '-t', '[2001:db8::zz]:80'], names: true }, { argv: ['-A', '-t', '[2001:db8::1]:80', '-p', '-M', '129'] },
  { argv: ['-a', '-t', '10.3.0.1:80', '-r', '[2001:db8::10]:80', '-m'] }, { argv: ['-L', '-n', '-t', '[2001:DB8::1]:80'] },
  { argv: ['-A', '-6', '-f', '9'] }, { argv: ['-D', '-f', '9', '-6'] },
  // quotes, backslashes, control characters and UTF-8 in an argument, echoed in the error
  { argv: ['-A', '-t', '10.3.0.1:80', '-s', 'r\u00e9"\\\u0001\t\u{1F600}x'] },
  { argv: ['-L', '-n', 'stray\u00e9'] },
  { argv: ['-R'], stdin: '-A -t 10.3.0.6:80 -s rr\n-a -t 10.3.0.6:80 -r 192.168.7.6:80 -m -w 3\n-A -t 10.3.0.6:80\n' +
    '-a -t 10.3.0.7:80 -r 192.168.7.6:80 -m\n--set 0 0 100\n' },
  { argv: ['-R'], stdin: '-A -t 10.3.0.8:80\n-A -t 10.3.0.8:81 -w 3\n' },
  { argv: ['-R'], stdin: '' },
  { argv: ['-R'], stdin: restore },
  { argv: ['-Ln'] }, { argv: ['-S', '-n'] },
  // names: this machine's resolver and /etc/services, through the JS fvsadm
  { argv: ['-A', '-t', 'localhost:http', '-s', 'wlc'], names: true },
  { argv: ['-R'], stdin: '-a -t localhost:http -r 192.168.7.8:http -m\n', names: true },
  { argv: ['-L', '-n', '-t', '127.0.0.1:80'] },
  { argv: ['-C'] }, { argv: ['-Ln'] },
];

test('native fvsadm prints what the JS fvsadm prints, command by command from the same table, without Node but for names', { skip, timeout: 300_000 }, async () => {
  assert.ok(fs.existsSync(native), `${native} is built (npm run build:native)`);
  await reset();
  const want = steps.map((s) => runJs(s.argv, s.stdin));
  await reset();
  const got = steps.map((s) => runNative(s.argv, s.stdin, {}, s.names));
  const differ: string[] = [];
  steps.forEach((s, i) => {
    for (const k of ['stdout', 'stderr', 'exit'] as const)
      if (want[i][k] !== got[i][k]) differ.push(`step ${i + 1} fvsadm ${JSON.stringify(s.argv)}: ${k}\n  js     ${JSON.stringify(want[i][k])}\n  native ${JSON.stringify(got[i][k])}`);
  });
  assert.equal(differ.length, 0, differ.join('\n'));
  // the scenario means something: the table was made, refused, listed and restored
  const at = (argv: string[]) => want[steps.findIndex((s) => JSON.stringify(s.argv) === JSON.stringify(argv))];
  assert.match(at(['-S', '-n']).stdout, /^-a -t 10\.3\.0\.1:80 -r 192\.168\.7\.1:8080 -m -w 5$/m);
  assert.match(at(['-Ln', '--thresholds']).stdout, /^ {2}-> 192\.168\.7\.1:8080 +100 +10 +0 +0 *$/m);
  assert.equal(want[4].stderr, 'Service already exists\n');
  assert.match(want[steps.findIndex((st) => st.stdin === restore) + 1].stdout, /^TCP {2}10\.4\.0\.39:80 wrr\n(?: {2}-> 192\.168\.8\.15[6-9]:8080 .*\n){4}/m, 'the restore is listed');
  assert.match(want[steps.length - 3].stdout, /^TCP {2}127\.0\.0\.1:80 wlc\n {2}-> 192\.168\.7\.8:80 +Masq/m);
});

test('native fvsadm\'s errors read as the JS client\'s: no token, a wrong one, an unreadable token file, no director', { skip }, () => {
  const cases: Record<string, string>[] = [
    { FULCRUM_TOKEN_FILE: '' },
    { FULCRUM_TOKEN: 'wrong-token' },
    { FULCRUM_TOKEN_FILE: path.join(dir, 'no-such-file') },
    { FULCRUM_TOKEN_FILE: dir },
    { FULCRUM_API: 'http://127.0.0.1:1' },
    { FULCRUM_API: 'http://127.0.0.1:1/' },
    { FULCRUM_API: `http://localhost:${port}`, FULCRUM_TOKEN_FILE: '' },
  ];
  for (const extra of cases) {
    const want = runJs(['-Ln'], '', extra), got = runNative(['-Ln'], '', extra);
    assert.deepEqual(got, want, JSON.stringify(extra));
    assert.equal(got.exit, 2);
    assert.match(got.stderr, /^fvsadm: (cannot reach|the Fulcrum director at|cannot read the token file)/);
  }
  // https is the JS client's own: handed to it
  const https = runNative(['-Ln'], '', { FULCRUM_API: 'https://127.0.0.1:1' }, true);
  assert.deepEqual(https, runJs(['-Ln'], '', { FULCRUM_API: 'https://127.0.0.1:1' }));
});

test('native fvsadm -Ln into a pipe closed early ends quietly with status 0, as the JS one', { skip }, () => {
  for (const bin of [native, js]) {
    const r = spawnSync('bash', ['-c', `set -o pipefail; (sleep 0.3; exec "${bin}" -Ln) | true; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8', env: env() });
    assert.equal(r.stdout, '0\n', bin);
    assert.equal(r.stderr, '', bin);
  }
});

// ---- against a fake director on loopback ------------------------------------------------------

/** Runs a client against a server that reads each request whole, then writes `answers[i]` for
 * the i-th request and closes. */
async function againstFake(bin: string, answers: Array<string | Buffer>, stdin = ''): Promise<{ status: number | null; signal: string | null; stdout: Buffer; stderr: string; requests: string[] }> {
  const requests: string[] = [];
  const server = net.createServer((sock) => {
    let got = Buffer.alloc(0);
    sock.on('data', (d) => {
      got = Buffer.concat([got, d]);
      const head = got.indexOf('\r\n\r\n');
      const len = Number(/content-length: *(\d+)/i.exec(got.subarray(0, head).toString())?.[1] ?? 0);
      if (head < 0 || got.length < head + 4 + len) return;
      requests.push(got.toString());
      sock.end(answers[Math.min(requests.length, answers.length) - 1]);
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const fakePort = (server.address() as net.AddressInfo).port;
  try {
    return await new Promise((resolve) => {
      // (leaks at exit are no matter for a process of one command)
      const c = spawn(bin, ['-Ln'], { env: { PATH: '/nonexistent', FULCRUM_API: `http://127.0.0.1:${fakePort}`, ASAN_OPTIONS: 'detect_leaks=0' } });
      const out: Buffer[] = [];
      let err = '';
      c.stdout.on('data', (d: Buffer) => out.push(d));
      c.stderr.on('data', (d: Buffer) => { err += d; });
      c.on('close', (status, signal) => resolve({ status, signal, stdout: Buffer.concat(out), stderr: err, requests }));
      c.stdin.end(stdin);
    });
  } finally {
    server.close();
  }
}

const http = (status: string, headers: string, body: string | Buffer) =>
  Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\n${headers}\r\n`), Buffer.from(body)]);
const chunked = (...parts: string[]) => parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('') + '0\r\n\r\n';
const json = (body: string, status = '200 OK') =>
  http(status, `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`, body);
const garbage: Array<[string, Buffer | string]> = [
  ['nothing', ''],
  ['no status line', 'garbage\r\n\r\n'],
  ['no end of headers', 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'],
  ['a body cut short', http('200 OK', 'Content-Length: 100\r\n', '{"stdout":""}')],
  ['a negative length', http('200 OK', 'Content-Length: -5\r\n', '{}')],
  ['a length past 64 bits', http('200 OK', 'Content-Length: 99999999999999999999999\r\n', '{}')],
  ['a huge chunk', http('200 OK', 'Transfer-Encoding: chunked\r\n', 'fffffffffffffff\r\nab')],
  ['a chunk size past 64 bits', http('200 OK', 'Transfer-Encoding: chunked\r\n', 'fffffffffffffffffffffff\r\nab')],
  ['a chunk that is not hex', http('200 OK', 'Transfer-Encoding: chunked\r\n', 'zz\r\n')],
  ['chunks without their end', http('200 OK', 'Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n')],
  ['a chunk overrunning its CRLF', http('200 OK', 'Transfer-Encoding: chunked\r\n', '2\r\nhello\r\n0\r\n\r\n')],
  ['a NUL in the headers', http('200 OK', 'X: a\0b\r\nContent-Length: 2\r\n', '{}')],
  ['JSON that is no object', json('[1,2]')],
  ['no exit', json('{"stdout":"a","stderr":""}')],
  ['an exit out of range', json('{"stdout":"","stderr":"","exit":256}')],
  ['an exit past 64 bits', json('{"stdout":"","stderr":"","exit":99999999999999999999999}')],
  ['a bad escape', json('{"stdout":"\\u12","stderr":"","exit":0}')],
  ['an unknown escape', json('{"stdout":"\\q","stderr":"","exit":0}')],
  ['an unterminated string', json('{"stdout":"abc')],
  ['a raw control character', json('{"stdout":"a\nb","stderr":"","exit":0}')],
  ['deep nesting', json('{"x":' + '['.repeat(200_000))],
  ['deep nesting, closed', json('{"x":' + '['.repeat(50) + ']'.repeat(50) + '}')],
  ['binary', Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) & 255))],
];

/** The client built with AddressSanitizer and UBSan here, when a C compiler is at hand. */
function asanBuild(): string | undefined {
  const out = path.join(dir, 'asan/fvsadm');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const r = spawnSync('cc', ['-std=c11', '-g', '-O1', '-fsanitize=address,undefined', '-fno-sanitize-recover=all',
    '-o', out, path.join(root, 'native/fvsadm/fvsadm.c')], { encoding: 'utf8' });
  return r.status === 0 ? out : undefined;
}

test('garbage from a fake director is a clear error with exit 2, never a crash (also under ASan/UBSan)', { timeout: 120_000 }, async () => {
  assert.ok(fs.existsSync(native), `${native} is built (npm run build:native)`);
  const bins = [native, asanBuild()].filter((b): b is string => !!b);
  for (const bin of bins) {
    for (const [what, answer] of garbage) {
      const r = await againstFake(bin, [answer]);
      const label = `${bin}: ${what}`;
      assert.equal(r.signal, null, label);
      assert.equal(r.status, 2, `${label}: ${r.stderr}`);
      // "deep nesting, closed" is valid JSON but no {stdout, stderr, exit}
      assert.match(r.stderr, new RegExp(`^fvsadm: the Fulcrum director at http://127\\.0\\.0\\.1:\\d+ gave an answer fvsadm cannot read \\([^)]+\\)\\n$`), label);
    }
    // the director's own refusals read as its message
    const refused = await againstFake(bin, [json('{"statusCode":500,"message":"it broke"}', '500 Internal Server Error')]);
    assert.deepEqual([refused.status, refused.stderr], [2, 'fvsadm: the director answered 500: it broke\n']);
    // stdin asked for, sent once (JSON-escaped), asked for again: an error, not a loop
    const twice = await againstFake(bin, [json('{"needs":"stdin"}', '409 Conflict')], 'a "b"\\\n\u0001\u00e9');
    assert.equal(twice.status, 2);
    assert.equal(twice.requests.length, 2);
    assert.equal(twice.stderr, 'fvsadm: the director answered 409\n');
    const body = JSON.parse(twice.requests[1].slice(twice.requests[1].indexOf('\r\n\r\n') + 4));
    assert.deepEqual(body, { argv: ['-Ln'], program: 'fvsadm', stdin: 'a "b"\\\n\u0001\u00e9' });
    assert.match(twice.requests[0], /^POST \/v1\/ipvsadm HTTP\/1\.1\r\n/);
    assert.doesNotMatch(twice.requests[0], /"stdin"/, 'stdin is read and sent only when asked for');
    // a good answer: escapes, surrogate pairs and a lone surrogate (U+FFFD, as Node writes it),
    // chunked, with the exit status given
    const good = await againstFake(bin, [http('200 OK', 'Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n',
      chunked('{"stdout":"\\ud83', 'd\\ude00 \\u00e9 \\ud800x\\n","stderr":"e\\t\\"\\\\\\/","exit":3}'))]);
    assert.equal(good.status, 3, good.stderr);
    assert.equal(good.stdout.toString('utf8'), '\u{1F600} \u00e9 \uFFFDx\n');
    assert.equal(good.stderr, 'e\t"\\/');
  }
});
