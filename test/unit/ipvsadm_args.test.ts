// ipvsadm 1.31's command line as fvsadm parses it: what each command means (with ipvsadm's
// defaults), the command × option table, the order of its checks, popt's argument rules, the
// C library's number and address parsing, and -R's line splitting. The byte-for-byte
// comparison with the real binary is fvsadm_golden.test.ts; these say what the parse produces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, type IpvsadmCommand, type ParseEnv } from '../../src/ipvsadm/args';
import { inetAton, parseServicesFile, stringToNumber } from '../../src/ipvsadm/addr';
import { splitRestoreInput } from '../../src/ipvsadm/restore';
import { usageText } from '../../src/ipvsadm/usage';

const SERVICES = `# a few lines of /etc/services
http		80/tcp		www		# WorldWideWeb HTTP
domain		53/tcp
domain		53/udp
http-alt	8080/tcp	webcache
amqp		5672/sctp
amqp		5672/tcp
`;
const env: ParseEnv = {
  program: 'ipvsadm',
  services: parseServicesFile(SERVICES),
  lookupHost: async (name) => ({ 'vip.example.com': '10.0.0.1', web1: '192.168.1.10', mask24: '255.255.255.0' } as Record<string, string>)[name],
};

async function ok(...argv: string[]): Promise<IpvsadmCommand> {
  const r = await parseArgs(argv, env);
  assert.ok(r.ok, `${argv.join(' ')} was refused: ${r.ok ? '' : r.error.stderr}`);
  return r.command;
}
async function refused(argv: string[], stderr: string, exit = 2) {
  const r = await parseArgs(argv, env);
  assert.ok(!r.ok, `${argv.join(' ')} was accepted`);
  assert.deepEqual(r.error, { stderr: stderr + '\n', exit }, argv.join(' '));
}
const TRY = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.";

test('-A takes ipvsadm\'s defaults: scheduler wlc, no persistence, no flags', async () => {
  assert.deepEqual(await ok('-A', '-t', '10.0.0.1:80'), {
    cmd: 'add-service', service: { fwmark: 0, af: 4, protocol: 'tcp', address: '10.0.0.1', port: 80 },
    scheduler: 'wlc', schedFlags: 0, onePacket: false, synproxy: false,
  });
});

test('-j enable|disable (DPVS\'s switch) sets the SYN proxy on -A and -E only', async () => {
  const c = await ok('-A', '-t', '10.0.0.1:80', '-j', 'enable');
  assert.equal(c.cmd === 'add-service' && c.synproxy, true);
  const d = await ok('-E', '-t', '10.0.0.1:80', '--synproxy', 'disable');
  assert.equal(d.cmd === 'edit-service' && d.synproxy, false);
  const bad = await parseArgs(['-A', '-t', '10.0.0.1:80', '-j', 'on'], env);
  assert.ok(!bad.ok && bad.error.stderr.includes("invalid synproxy value `on' specified (enable or disable)"), JSON.stringify(bad));
  await refused(['-a', '-t', '10.0.0.1:80', '-r', '192.168.1.10', '-j', 'enable'], "Illegal 'synproxy' option with the 'add-server' command");
});

test('-p without a value means 360 seconds (not the man page\'s 300), with a /32 mask unless -M', async () => {
  const c = await ok('-A', '-t', '10.0.0.1:443', '-p');
  assert.equal(c.cmd, 'add-service');
  if (c.cmd === 'add-service') assert.deepEqual(c.persistence, { timeout: 360, netmask: '255.255.255.255' });
  const m = await ok('-A', '-t', '10.0.0.1:443', '-p', '600', '-M', '255.255.255.0');
  if (m.cmd === 'add-service') assert.deepEqual(m.persistence, { timeout: 600, netmask: '255.255.255.0' });
  const n = await ok('-A', '-t', '10.0.0.1:443', '-M', 'mask24');
  if (n.cmd === 'add-service') assert.equal(n.persistence, undefined, '-M alone has no effect');
});

test("-p's value is optional: taken from -p600, -p=600 or the next word unless it starts with '-'", async () => {
  for (const argv of [['-p600'], ['-p=600'], ['-p', '600'], ['--persistent=600'], ['--persistent', '600']]) {
    const c = await ok('-A', '-t', '10.0.0.1:80', ...argv);
    if (c.cmd === 'add-service') assert.equal(c.persistence?.timeout, 600, argv.join(' '));
  }
  const c = await ok('-A', '-t', '10.0.0.1:80', '-p', '-s', 'rr');
  if (c.cmd === 'add-service') assert.deepEqual([c.persistence?.timeout, c.scheduler], [360, 'rr']);
  await refused(['-A', '-t', '10.0.0.1:80', '-po'], "invalid timeout value `o' specified");
  await refused(['-A', '-t', '10.0.0.1:80', '-p', '0'], "invalid timeout value `0' specified");
  await refused(['-A', '-t', '10.0.0.1:80', '-p', '2678401'], "invalid timeout value `2678401' specified");
});

test('-a defaults to direct routing and weight 1; -g and -i take the service\'s port, -m keeps its own', async () => {
  assert.deepEqual(await ok('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.10:8080'), {
    cmd: 'add-server', service: { fwmark: 0, af: 4, protocol: 'tcp', address: '10.0.0.1', port: 80 },
    server: { af: 4, address: '192.168.1.10', port: 80 }, method: 'route', weight: 1, uThreshold: 0, lThreshold: 0,
  });
  const i = await ok('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.10:8080', '-i');
  if (i.cmd === 'add-server') assert.deepEqual([i.server.port, i.method, i.tunnel], [80, 'tunnel', { type: 'ipip', port: 0, csum: 'nocsum' }]);
  const m = await ok('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.10:8080', '-m', '-w', '3', '-x', '100', '-y', '10');
  if (m.cmd === 'add-server') assert.deepEqual([m.server.port, m.method, m.weight, m.uThreshold, m.lThreshold], [8080, 'masq', 3, 100, 10]);
  const noPort = await ok('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.10', '-m');
  if (noPort.cmd === 'add-server') assert.equal(noPort.server.port, 80, 'a real server without a port gets the service\'s');
  const fw = await ok('-a', '-f', '5', '-r', '192.168.1.10:8080');
  if (fw.cmd === 'add-server') assert.equal(fw.server.port, 8080, 'fwmark services do not force ports');
});

test('weights go up to INT_MAX, as in Debian\'s ipvsadm (upstream stops at 65535)', async () => {
  const c = await ok('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.10', '-w', '2147483647');
  if (c.cmd === 'add-server') assert.equal(c.weight, 2147483647);
  await refused(['-a', '-t', '10.0.0.1:80', '-r', '192.168.1.10', '-w', '2147483648'], 'illegal weight specified');
});

test('--fullnat is Fulcrum\'s forwarding method, counted as ipvsadm counts -g, -i and -m', async () => {
  const c = await ok('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.10:8080', '--fullnat');
  if (c.cmd === 'add-server') assert.deepEqual([c.method, c.server.port], ['fullnat', 8080]);
  await refused(['-a', '-t', '10.0.0.1:80', '-r', '192.168.1.10', '--fullnat', '-m'], "multiple 'forwarding-method' options specified");
});

test('services are named by protocol and host[:port] (names looked up) or by fwmark', async () => {
  const named = await ok('-A', '-u', 'vip.example.com:domain');
  if (named.cmd === 'add-service') assert.deepEqual(named.service, { fwmark: 0, af: 4, protocol: 'udp', address: '10.0.0.1', port: 53 });
  const sctp = await ok('-D', '--sctp-service', '10.0.0.1:amqp');
  if (sctp.cmd === 'delete-service') assert.deepEqual(sctp.service, { fwmark: 0, af: 4, protocol: 'sctp', address: '10.0.0.1', port: 5672 });
  const fw = await ok('-E', '-f', '7', '-s', 'rr');
  if (fw.cmd === 'edit-service') assert.deepEqual(fw.service, { fwmark: 7, af: 4, protocol: 'tcp', address: '0.0.0.0', port: 0 });
  const v6 = await ok('-A', '-t', '[2001:db8::1]:80');
  if (v6.cmd === 'add-service') assert.deepEqual(v6.service, { fwmark: 0, af: 6, protocol: 'tcp', address: '2001:db8::1', port: 80 });
  await refused(['-A', '-t', '10.0.0.1:bogus'], 'illegal virtual server address[:port] specified');
  await refused(['-A', '-t', '80'], 'illegal virtual server address[:port] specified');
  await refused(['-A', '--sctp-service', '10.0.0.1:http'], 'illegal virtual server address[:port] specified');
  await refused(['-A', '-f', '0'], "invalid fwmark value `0' specified");
  await refused(['-A', '-6', '-f', '1'], '-6 used before -f\n');
});

test('a port of 0 needs persistence; one-packet scheduling needs UDP or a fwmark', async () => {
  await refused(['-A', '-t', '10.0.0.1'], 'Zero port specified for non-persistent service');
  await ok('-A', '-t', '10.0.0.1', '-p');
  await refused(['-A', '-t', '10.0.0.1:80', '-o'], 'One-Packet Scheduling is only for UDP virtual services');
  await ok('-A', '-u', '10.0.0.1:53', '-o');
  await ok('-A', '-f', '3', '-o');
});

test('scheduler flags are checked after every option, against the final scheduler (default wlc)', async () => {
  const c = await ok('-A', '-t', '10.0.0.1:80', '-b', 'sh-fallback,sh-port', '-s', 'sh');
  if (c.cmd === 'add-service') assert.equal(c.schedFlags, 3);
  const f = await ok('-A', '-t', '10.0.0.1:80', '-b', 'flag-3,,flag-1');
  if (f.cmd === 'add-service') assert.equal(f.schedFlags, 5);
  await refused(['-A', '-t', '10.0.0.1:80', '-b', 'sh-port'], "incompatible scheduler flag `sh-port'");
  await refused(['-A', '-t', '10.0.0.1:80', '-b', 'flag-9'], "invalid scheduler flag `flag-9'");
  // before the table: an illegal -b on a list command still has its names checked first
  await refused(['-L', '-b', 'bogus'], "invalid scheduler flag `bogus'");
  await refused(['-L', '-b', 'flag-1'], "Illegal 'sched-flags' option with the 'list' command");
});

test('the legality table reports the first offending option in ipvsadm\'s option order', async () => {
  await refused(['-A'], "You need to supply the 'service-address' option for the 'add-service' command");
  await refused(['-A', '-w', '5'], "You need to supply the 'service-address' option for the 'add-service' command");
  await refused(['-A', '-t', '10.0.0.1:80', '-w', '5', '-n'], "Illegal 'numeric' option with the 'add-service' command");
  await refused(['-a', '-t', '10.0.0.1:80'], "You need to supply the 'real-server' option for the 'add-server' command");
  await refused(['-d', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-m'], "Illegal 'forwarding-method' option with the 'delete-server' command");
  await refused(['-C', '-n'], "Illegal 'numeric' option with the 'flush' command");
  await refused(['-S', '--stats'], "Illegal 'stats' option with the 'save' command");
  await refused(['-Z', '-s', 'rr'], "Illegal 'scheduler' option with the 'zero' command");
  await refused(['--stop-daemon', 'master', '--mcast-ttl', '3'], "Illegal 'mcast-ttl' option with the 'stop-daemon' command");
  await refused(['-L', '-t', '10.0.0.1:80', '-c'], "The option 'service-address' conflicts with the 'connection' option in the 'list' command");
  await refused(['-L', '--daemon', '--timeout'], "The option 'daemon' conflicts with the 'timeout' option in the 'list' command");
  await refused(['-L', '-c', '--rate'], 'options conflicts in the list command');
  await refused(['-L', '--timeout', '--persistent-conn'], 'options conflicts in the list command');
  await ok('-L', '-c', '--persistent-conn');
});

test('tunnel options need -i and follow the tunnel type\'s table', async () => {
  const gue = await ok('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-type', 'gue', '--tun-port', '6080', '--tun-csum');
  if (gue.cmd === 'add-server') assert.deepEqual(gue.tunnel, { type: 'gue', port: 6080, csum: 'csum' });
  await refused(['-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '--tun-type', 'gue'], 'Tunnel options conflict with forward method');
  await refused(['-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-type', 'gue'], "You need to supply the 'tun-port' option for the 'gue' tunnel type");
  await refused(['-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-type', 'gre', '--tun-remcsum'], "Illegal 'tun-remcsum' option with the 'gre' tunnel type");
  await refused(['-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-csum'], "Illegal 'tun-csum' option with the 'ipip' tunnel type");
});

test('list commands say what to list; with no arguments at all ipvsadm lists the table by name', async () => {
  const all = await ok('-Ln', '--stats', '--exact');
  assert.equal(all.cmd, 'list');
  if (all.cmd === 'list') assert.deepEqual([all.what, all.format.numeric, all.format.stats, all.format.exact, all.format.rate], ['all', true, true, true, false]);
  const one = await ok('-l', '-t', '10.0.0.1:80');
  if (one.cmd === 'list') assert.deepEqual([one.what, one.service?.port], ['service', 80]);
  for (const [argv, what] of [[['-Lnc'], 'connections'], [['-L', '--timeout'], 'timeout'], [['-L', '--daemon'], 'daemon']] as const) {
    const c = await ok(...argv);
    if (c.cmd === 'list') assert.equal(c.what, what);
  }
  const none = await ok();
  if (none.cmd === 'list') assert.deepEqual([none.what, none.format.numeric], ['all', false]);
});

test('--set takes three timeouts (0 keeps one), from anywhere among the words', async () => {
  assert.deepEqual(await ok('--set', '900', '0', '300'), { cmd: 'set', timeouts: { tcp: 900, tcpfin: 0, udp: 300 } });
  assert.deepEqual(await ok('900', '--set', '0', '300'), { cmd: 'set', timeouts: { tcp: 900, tcpfin: 0, udp: 300 } });
  await refused(['--set', '1', '2'], '--set option requires 3 timeout values');
  await refused(['--set', '1', '2', '3', '4'], 'unexpected argument 4');
  await refused(['--set', 'a', '2', '3'], "invalid timeout value `a' specified");
});

test('the sync daemon commands take master or backup and their own options', async () => {
  assert.deepEqual(await ok('--start-daemon', 'backup', '--mcast-interface', 'eth1', '--syncid', '7', '--mcast-group', '239.1.1.1', '--mcast-port', '8849', '--mcast-ttl', '2', '--sync-maxlen', '1400'), {
    cmd: 'start-daemon', daemon: { state: 'backup', mcastInterface: 'eth1', syncId: 7, group: '239.1.1.1', port: 8849, ttl: 2, maxlen: 1400 },
  });
  const d = await ok('--start-daemon=master');
  if (d.cmd === 'start-daemon') assert.equal(d.daemon.mcastInterface, 'eth0', 'eth0 by default');
  await refused(['--start-daemon', 'primary'], 'illegal start-daemon parameter specified');
  await refused(['--stop-daemon', 'primary'], 'illegal start_daemon specified');
  await refused(['--start-daemon', 'master', '--mcast-group', '10.1.1.1'], "invalid IPv4 mcast-group `10.1.1.1'");
});

test('the first option must be a command; -h and -v end the parse at once', async () => {
  await refused(['-n', '-L'], TRY, 255);
  await refused(['--bogus'], TRY, 255);
  await refused(['foo'], TRY, 255);
  assert.deepEqual(await ok('-h', 'anything', '--bogus'), { cmd: 'help' });
  assert.deepEqual(await ok('--version'), { cmd: 'version' });
  await refused(['-L', '-h'], "invalid option `-h'");
  await refused(['-L', '--start-daemon', 'master'], "invalid option `master'");
});

test('popt\'s own errors name the word and exit 255', async () => {
  await refused(['-L', '--bogus'], '--bogus: unknown option', 255);
  await refused(['-Lnq'], '-Lnq: unknown option', 255);
  await refused(['-A', '-t'], '-t: missing argument', 255);
  await refused(['-L', '--stats=1'], '--stats=1: option does not take an argument', 255);
  await refused(['-Ln=1'], '-Ln=1: option does not take an argument', 255);
  await refused(['-L', '--', '-n'], 'unexpected argument -n');
});

test('a nested -R is refused', async () => {
  assert.deepEqual(await ok('-R'), { cmd: 'restore' });
  const r = await parseArgs(['-R'], { ...env, readingStdin: true });
  assert.deepEqual(r, { ok: false, error: { stderr: TRY + '\n', exit: 255 } });
});

test('numbers parse as strtol does: blanks and a sign before the digits, nothing after', () => {
  assert.equal(stringToNumber(' +80', 0, 65535), 80);
  assert.equal(stringToNumber('-0', 0, 65535), 0);
  assert.equal(stringToNumber('80 ', 0, 65535), undefined);
  assert.equal(stringToNumber('0x50', 0, 65535), undefined);
  assert.equal(stringToNumber('99999999999999999999', 0, 65535), undefined);
});

test('addresses parse as inet_aton does: short, octal and hex forms; whatever follows a blank is ignored', () => {
  assert.equal(inetAton('10.1'), '10.0.0.1');
  assert.equal(inetAton('10.1.2'), '10.1.0.2');
  assert.equal(inetAton('0x0a000002'), '10.0.0.2');
  assert.equal(inetAton('012.0.0.1'), '10.0.0.1');
  assert.equal(inetAton('1.2.3.4 foo'), '1.2.3.4');
  assert.equal(inetAton('1.2.3.256'), undefined);
  assert.equal(inetAton('08.1.1.1'), undefined);
  assert.equal(inetAton('vip'), undefined);
});

test('-R input splits into words per line: "ipvsadm" dropped, blank lines skipped, no comments', () => {
  assert.deepEqual(splitRestoreInput('ipvsadm -A -t 10.0.0.1:80\t-s rr\r\n\n   \n-a -t 10.0.0.1:80 -r 1.1.1.1\n# not a comment\n'), [
    ['-A', '-t', '10.0.0.1:80', '-s', 'rr'], ['-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1'], ['#', 'not', 'a', 'comment']]);
  assert.deepEqual(splitRestoreInput('-C'), [['-C']], 'a last line without a newline counts');
  assert.deepEqual(splitRestoreInput('-A -t 10.0.0.1:80\n-C   '), [['-A', '-t', '10.0.0.1:80']], 'blanks before the end of input drop the last line, as ipvsadm does');
});

test('/etc/services: the first line for a name or alias and protocol wins', () => {
  const db = parseServicesFile(SERVICES);
  assert.equal(db.portOf('www', 'tcp'), 80);
  assert.equal(db.portOf('domain', 'udp'), 53);
  assert.equal(db.portOf('http', 'udp'), undefined);
  assert.equal(db.nameOf(8080, 'tcp'), 'http-alt');
  assert.equal(db.nameOf(5672, 'sctp'), 'amqp');
});

test('the usage names the program as it was called', () => {
  const u = usageText('fvsadm');
  assert.match(u, /^ipvsadm v1\.31 2019\/12\/24 \(compiled with popt and IPVS v1\.2\.1\)\nUsage:\n {2}fvsadm -A\|E virtual-service/);
  assert.ok(u.endsWith('  --mcast-ttl ttl                     Multicast TTL (default=1)\n'));
});
