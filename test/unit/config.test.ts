// The config file: a good one loads; a bad one is refused whole with every problem by path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfigFile, parseCidr, parseIpv4, validateConfig, validateService } from '../../src/control/config_load';
import { NativeConfigBuilder } from '../../src/control/native_config';
import { nativeAddon } from '../../src/native';

const good = {
  dataplane: { ports: [{ name: 'client', device: 'net_null0', address: '10.0.0.1/24' }], workers: [1] },
  services: [{
    protocol: 'tcp', address: '10.0.0.100', port: 80, scheduler: 'wrr',
    realServers: [{ address: '172.16.0.11', port: 8080, method: 'nat', weight: 3 }],
  }],
};

function problems(doc: unknown): string[] {
  try {
    validateConfig(doc);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

test('a good config validates', () => {
  assert.deepEqual(problems(good), []);
});

test('schema problems are listed by path', () => {
  const bad = structuredClone(good) as any;
  bad.services[0].realServers[0].weight = -1;
  bad.services[0].scheduler = 'fastest';
  const p = problems(bad);
  assert.ok(p.some((s) => s.startsWith('services[0].realServers[0].weight:')), p.join('\n'));
  assert.ok(p.some((s) => s.startsWith('services[0].scheduler:')), p.join('\n'));
});

test('rules beyond the schema are checked and all reported at once', () => {
  const bad = structuredClone(good) as any;
  bad.services.push({ protocol: 'tcp', address: '10.0.0.100', port: 80, realServers: [] });
  bad.services.push({ protocol: 'tcp', address: '10.0.0.101', port: 0 });
  bad.services.push({ protocol: 'udp', address: '10.0.0.102', port: 53, scheduler: 'wlc', schedFlags: ['sh-port'] });
  bad.services[0].realServers.push({ address: '172.16.0.11', port: 8080, method: 'nat', upperThreshold: 1, lowerThreshold: 5 });
  bad.services[0].realServers.push({ address: '224.0.0.1', method: 'fullnat' });
  const p = problems(bad);
  assert.ok(p.includes('services[1]: service tcp 10.0.0.100:80 already exists'), p.join('\n'));
  assert.ok(p.includes('services[2].port: zero port specified for non-persistent service'), p.join('\n'));
  assert.ok(p.some((s) => s.startsWith("services[3].schedFlags: incompatible scheduler flag 'sh-port'")), p.join('\n'));
  assert.ok(p.includes('services[0].realServers[1]: real server 172.16.0.11:8080 already exists'), p.join('\n'));
  assert.ok(p.includes('services[0].realServers[1].lowerThreshold: must not exceed upperThreshold'), p.join('\n'));
  assert.ok(p.includes('services[0].realServers[2].address: must be a unicast address'), p.join('\n'));
  assert.ok(p.includes('services[0].realServers[2].method: fullnat needs localAddresses'), p.join('\n'));
});

test('the SYN proxy is for TCP services with NAT or FullNAT real servers', () => {
  const bad = structuredClone(good) as any;
  bad.services.push({ protocol: 'udp', address: '10.0.0.103', port: 53, synproxy: true });
  bad.services.push({ protocol: 'tcp', address: '10.0.0.104', port: 80, synproxy: true,
    realServers: [{ address: '172.16.0.21', port: 80, method: 'nat' }, { address: '172.16.0.22', port: 80 }] });
  bad.services.push({ protocol: 'tcp', address: '10.0.0.105', port: 80, synproxy: true,
    realServers: [{ address: '172.16.0.23', port: 80, method: 'nat' }] });
  const p = problems(bad);
  const n = bad.services.length;
  assert.ok(p.includes(`services[${n - 3}].synproxy: the SYN proxy is only for TCP virtual services`), p.join('\n'));
  assert.ok(p.includes(`services[${n - 2}].synproxy: the SYN proxy needs NAT or FullNAT real servers (it shifts sequence numbers both ways)`), p.join('\n'));
  assert.ok(!p.some((x) => x.startsWith(`services[${n - 1}]`)), p.join('\n'));
});

test('addresses and prefixes are parsed strictly', () => {
  assert.equal(parseIpv4('10.0.0.1'), 0x0a000001);
  assert.equal(parseIpv4('10.0.0.256'), undefined);
  assert.equal(parseIpv4('10.0.1'), undefined);
  assert.equal(parseIpv4('010.0.0.1'), undefined);
  assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
  assert.equal(parseIpv4('0.0.0.0'), 0);
  assert.equal(parseIpv4('10.0.0.0'), 0x0a000000);
  for (const bad of ['', '1.2.3.4.', '.1.2.3', '1..2.3', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.1000', '1.2.3.00', '1.2.3.a', '1.2.3.4.5'])
    assert.equal(parseIpv4(bad), undefined, bad);
  assert.deepEqual(parseCidr('10.1.0.0/16'), { addr: 0x0a010000, len: 16 });
  assert.equal(parseCidr('10.1.0.1/16'), undefined);
  assert.deepEqual(parseCidr('10.1.0.1/16', true), { addr: 0x0a010001, len: 16 });
  assert.equal(problems({ ...good, localAddresses: ['1.2.3'] }).length, 1);
});

test('files: YAML and JSON load; unreadable or malformed files are refused with the reason', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-config-'));
  try {
    const y = path.join(dir, 'a.yaml');
    fs.writeFileSync(y, 'dataplane:\n  ports:\n    - { name: p0, device: net_null0 }\nservices: []\n');
    assert.equal(loadConfigFile(y).dataplane.ports[0].name, 'p0');
    const j = path.join(dir, 'a.json');
    fs.writeFileSync(j, JSON.stringify(good));
    assert.equal(loadConfigFile(j).services?.[0].scheduler, 'wrr');
    const broken = path.join(dir, 'b.yaml');
    fs.writeFileSync(broken, 'dataplane: [\n');
    assert.throws(() => loadConfigFile(broken), /not valid YAML\/JSON/);
    assert.throws(() => loadConfigFile(path.join(dir, 'missing.yaml')), /cannot read .*ENOENT/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('every example config in examples/ is valid and accepted by the packet core', () => {
  const dir = path.resolve(__dirname, '../../../examples');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 3);
  for (const f of files) {
    const cfg = loadConfigFile(path.join(dir, f));
    const limits = { maxServices: 64, maxDests: 256 };
    assert.deepEqual(nativeAddon().checkCoreConfig(new NativeConfigBuilder(limits).build(cfg), limits), [], f);
  }
});

test('a problem inside a health check names the field and its range; an unknown type or scheduler lists the valid ones', () => {
  const bad = structuredClone(good) as any;
  bad.services[0].healthChecks = [{ type: 'tcp', interval: 0 }, { type: 'icmp' }, { interval: 3 }, { type: 'http', fall: 101, path: '', bogus: 1 }];
  bad.services[0].realServers[0].healthChecks = [{ type: 'dns', queryType: 'PTR', timeout: 100000 }];
  bad.services[0].scheduler = 'foo';
  bad.services[0].realServers[0].method = 'maglev';
  const p = problems(bad);
  const expected = [
    'services[0].healthChecks[0].interval: must be >= 0.1',
    "services[0].healthChecks[1].type: unknown type 'icmp' (tcp, http, https, udp, dns, command, agent)",
    'services[0].healthChecks[2].type: required (tcp, http, https, udp, dns, command, agent)',
    'services[0].healthChecks[3].fall: must be <= 100',
    'services[0].healthChecks[3].path: must be at least 1 character',
    'services[0].healthChecks[3].bogus: unknown field (known: type, interval, timeout, fall, rise, delayBeforeRetry, warmup, port, address, path, host, statusCodes, digest)',
    'services[0].realServers[0].healthChecks[0].timeout: must be <= 86400',
    "services[0].realServers[0].healthChecks[0].queryType: unknown queryType 'PTR' (A, NS, CNAME, SOA, MX, TXT, AAAA)",
    "services[0].scheduler: unknown scheduler 'foo' (rr, wrr, lc, wlc, sed, nq, lblc, lblcr, dh, sh, mh, fo, ovf, twos)",
    "services[0].realServers[0].method: unknown method 'maglev' (nat, fullnat, dr, tun)",
  ];
  for (const e of expected) assert.ok(p.includes(e), `missing: ${e}\n got:\n${p.join('\n')}`);
  assert.ok(!p.some((x) => x.includes('Expected union value')), p.join('\n'));
});

test('unions that are not tagged still explain the member that fits the value', () => {
  const bad = structuredClone(good) as any;
  bad.dataplane.ports[0].tap = 'a-name-longer-than-15';
  bad.dataplane.idleBackoff = { maxSleepMicroseconds: 0 };
  const p = problems(bad);
  assert.ok(p.includes('dataplane.ports[0].tap: must be at most 15 characters'), p.join('\n'));
  assert.ok(p.includes('dataplane.idleBackoff.maxSleepMicroseconds: must be >= 1'), p.join('\n'));
});

test('one service checked alone (an API change) gets the same explained problems', () => {
  const s = { protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'fastest', healthChecks: [{ type: 'tcp', fall: 0 }, { type: 'ping' }] };
  assert.deepEqual(validateService(s, 'services[3]', {}), [
    "services[3].scheduler: unknown scheduler 'fastest' (rr, wrr, lc, wlc, sed, nq, lblc, lblcr, dh, sh, mh, fo, ovf, twos)",
    'services[3].healthChecks[0].fall: must be >= 1',
    "services[3].healthChecks[1].type: unknown type 'ping' (tcp, http, https, udp, dns, command, agent)",
  ]);
});
