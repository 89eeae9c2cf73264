// IPv6 in the control plane: addresses read as glibc's inet_pton reads them and stored in the
// one text inet_ntop writes (what ipvsadm prints); ids bracket them; the config's rules for
// IPv6 services (families of real servers, the persistence prefix, fwmark families); what the
// native core is handed, and that the core takes it; node_exporter's labels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalIpv6, fullIpv6, goIpv6, ipv6UnicastProblem, parseIpv6 } from '../../src/control/ipv6';
import { canonicalAddress, familyOf, hostPort, isLoopbackAddress, splitHostPort } from '../../src/control/address';
import { ConfigError, validateConfig, validateService } from '../../src/control/config_load';
import { canonicalServerId, canonicalServiceId, keyOfId, normalizeService, serverId, serviceId, serviceKey } from '../../src/control/identity';
import { NativeConfigBuilder } from '../../src/control/native_config';
import { isLoopback } from '../../src/api/app';
import { nativeAddon } from '../../src/native';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChangeRefused, DesiredState } from '../../src/control/state';
import * as edit from '../../src/api/edits';
import { applyOp } from '../../src/api/routes/batch';
import { parseArgs } from '../../src/ipvsadm/args';
import { parseServicesFile } from '../../src/ipvsadm/addr';

test('IPv6 text is read as inet_pton reads it and written as inet_ntop writes it', () => {
  const canon: Array<[string, string]> = [
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],  // the first of equal runs
    ['2001:db8:0:0:1:0:0:0', '2001:db8:0:0:1::'],                      // the longer run
    ['2001:db8:0:1:2:3:4:5', '2001:db8:0:1:2:3:4:5'],                   // one zero group stays
    ['::', '::'], ['::1', '::1'], ['1::', '1::'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'], ['::1.2.3.4', '::1.2.3.4'], ['::ffff:102:304', '::ffff:1.2.3.4'],
    ['64:ff9b::198.18.0.1', '64:ff9b::c612:1'],
    ['fe80::1', 'fe80::1'],
  ];
  for (const [i, want] of canon) assert.equal(canonicalIpv6(i), want, i);
  for (const bad of ['', ':', ':::', '1:::2', '2001:db8::zz', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', '::1.2.3', '::1.2.3.04',
    '::256.1.1.1', 'fe80::1%eth0', '[::1]', '1::2::3', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', '1.2.3.4', ':1::', '1::2:'])
    assert.equal(parseIpv6(bad), undefined, bad);
  assert.equal(fullIpv6('2001:db8::1'), '2001:0db8:0000:0000:0000:0000:0000:0001');
  // node_exporter's labels are Go's net.IP.String(): no dotted tail for IPv4-compatible forms
  assert.equal(goIpv6('::1.2.3.4'), '::102:304');
  assert.equal(goIpv6('2001:db8::1'), '2001:db8::1');
});

test('addresses of both families: family, stored form, address:port with IPv6 bracketed', () => {
  assert.equal(familyOf('198.18.0.1'), 4);
  assert.equal(familyOf('2001:db8::1'), 6);
  assert.equal(familyOf('198.18.0'), undefined);
  assert.equal(familyOf('host.example'), undefined);
  assert.equal(canonicalAddress('2001:DB8::0:1'), '2001:db8::1');
  assert.equal(canonicalAddress('198.18.0.1'), '198.18.0.1');
  assert.equal(hostPort('2001:db8::1', 80), '[2001:db8::1]:80');
  assert.equal(hostPort('198.18.0.1', 80), '198.18.0.1:80');
  assert.deepEqual(splitHostPort('[2001:db8::1]:80'), { address: '2001:db8::1', port: 80 });
  assert.deepEqual(splitHostPort('198.18.0.1:80'), { address: '198.18.0.1', port: 80 });
  for (const bad of ['2001:db8::1:80', '[2001:db8::1]', '[2001:db8::1]80', '198.18.0.1:65536', '198.18.0.1:'])
    assert.equal(splitHostPort(bad), undefined, bad);
  assert.ok(isLoopbackAddress('::1') && isLoopbackAddress('0:0::1') && isLoopbackAddress('127.0.0.2'));
  assert.ok(!isLoopbackAddress('::2') && !isLoopbackAddress('2001:db8::1') && !isLoopbackAddress('128.0.0.1'));
  assert.ok(isLoopback('::1') && isLoopback('localhost') && !isLoopback('::'));
  assert.equal(ipv6UnicastProblem('ff02::1', 'real server'), 'must be a unicast address (not multicast)');
  assert.equal(ipv6UnicastProblem('::ffff:198.18.0.1', 'service'), 'an IPv4-mapped address: write the IPv4 address');
  assert.match(ipv6UnicastProblem('fe80::1', 'real server')!, /link-local/);
  assert.equal(ipv6UnicastProblem('fe80::1', 'service'), undefined);
});

test('ids bracket IPv6 addresses in their canonical form; an IPv6 fwmark service is fwmark6', () => {
  const s = { protocol: 'tcp' as const, address: '2001:DB8::0:100', port: 80 };
  assert.equal(serviceId(s), 'tcp:[2001:db8::100]:80');
  assert.equal(serviceKey(s), 'tcp [2001:db8::100]:80');
  assert.equal(keyOfId(serviceId(s)), serviceKey(s));
  assert.equal(serverId(s, { address: '2001:db8:0::10', port: 8080, method: 'nat' }), '[2001:db8::10]:8080');
  assert.equal(serverId(s, { address: '2001:db8::10', port: 8080, method: 'dr' }), '[2001:db8::10]:80');
  assert.equal(serviceId({ fwmark: 5 }), 'fwmark:5');
  assert.equal(serviceId({ fwmark: 5, family: 'ipv6' }), 'fwmark6:5');
  assert.equal(serviceKey({ fwmark: 5, family: 'ipv6' }), 'fwmark6 5');
  assert.equal(canonicalServiceId('tcp:[2001:DB8:0:0::100]:80'), 'tcp:[2001:db8::100]:80');
  assert.equal(canonicalServiceId('tcp:198.18.0.1:80'), 'tcp:198.18.0.1:80');
  assert.equal(canonicalServerId('[2001:DB8::10]:80'), '[2001:db8::10]:80');
  const n = normalizeService({ ...s, sorryServer: { address: '2001:db8::0:99' }, realServers: [{ address: '2001:DB8::10', port: 8080, method: 'dr' }] });
  assert.equal(n.address, '2001:db8::100');
  assert.equal(n.sorryServer!.address, '2001:db8::99');
  assert.deepEqual(n.realServers, [{ address: '2001:db8::10', port: 80, method: 'dr' }]);
});

const dataplane = { ports: [{ name: 'p0', device: 'net_null0' }] };
function problems(doc: Record<string, unknown>): string[] {
  try {
    validateConfig({ dataplane, ...doc });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

test('IPv6 services and real servers validate; bad ones are refused naming the field', () => {
  assert.deepEqual(problems({ services: [
    { protocol: 'tcp', address: '2001:db8::100', port: 80, persistence: { timeout: 60, netmask: 64 },
      realServers: [{ address: '2001:db8::10', method: 'nat' }, { address: '198.18.2.10', method: 'tun' }] },
    { fwmark: 5, family: 'ipv6', persistence: { netmask: 96 }, realServers: [{ address: '2001:db8::10' }] },
    { fwmark: 5, realServers: [{ address: '198.18.2.10' }] },  // fwmark 5 of each family: two services
  ] }), []);
  // the schema's problems first (a config with any is refused before the rules are read)
  assert.deepEqual(problems({ services: [
    { protocol: 'tcp', address: '2001:db8::zz', port: 80, realServers: [{ address: '[2001:db8::10]' }] },
    { fwmark: 6, family: 'ipv6', persistence: { netmask: 129 } },
    { fwmark: 7, family: 'inet6' },
  ] }), [
    "services[0].address: '2001:db8::zz' is not an IPv4 or IPv6 address",
    "services[0].realServers[0].address: '[2001:db8::10]' is not an IPv4 or IPv6 address",
    'services[1].persistence.netmask: must be <= 128',
    "services[2].family: unknown family 'inet6' (ipv4, ipv6)",
  ]);
  const p = problems({ services: [
    { protocol: 'tcp', address: '2001:db8::1', port: 80 },
    { protocol: 'tcp', address: '2001:db8::100', port: 80, persistence: { netmask: '255.255.255.0' },
      realServers: [{ address: '198.18.2.10', method: 'nat' }, { address: 'fe80::1', method: 'nat' }, { address: 'ff02::1' }] },
    { protocol: 'tcp', address: '198.18.0.100', port: 80, persistence: { netmask: 64 }, realServers: [{ address: '2001:db8::10', method: 'dr' }] },
    { protocol: 'udp', address: '::ffff:198.18.0.1', port: 53 },
    { protocol: 'tcp', address: '2001:db8::100', port: 81, family: 'ipv4' },
  ] });
  const want = [
    "services[1].persistence.netmask: an IPv6 service's netmask is a prefix length 1..128, not 255.255.255.0",
    'services[1].realServers[0].address: an IPv4 real server in an IPv6 service: different families only with method tun or fullnat (IPv6 clients to IPv4 servers)',
    'services[1].realServers[1].address: must not be link-local (the kernel refuses those too)',
    'services[1].realServers[2].address: must be a unicast address (not multicast)',
    "services[2].persistence.netmask: an IPv4 service's netmask is dotted (a.b.c.d), not a prefix length",
    'services[2].realServers[0].address: an IPv6 real server in an IPv4 service: different families only with method tun',
    'services[3].address: an IPv4-mapped address: write the IPv4 address',
    'services[4].family: the address 2001:db8::100 is IPv6, not ipv4',
  ];
  assert.deepEqual(p, want);
});

test('FullNAT carries IPv6 clients to IPv4 servers, and needs a local address of the server\'s family', () => {
  const svc = { protocol: 'tcp', address: '2001:db8::100', port: 80, realServers: [{ address: '198.18.2.10', method: 'fullnat' }] };
  assert.deepEqual(validateService(svc, 'svc', { localAddresses: ['198.18.255.1'] }), []);
  assert.deepEqual(validateService({ ...svc, realServers: [{ address: '2001:db8::10', method: 'fullnat' }] }, 'svc', { localAddresses: ['198.18.255.1'] }),
    ['svc.realServers[0].method: fullnat needs localAddresses with an IPv6 address (the source toward an IPv6 real server)']);
  assert.deepEqual(validateService({ protocol: 'tcp', address: '198.18.0.1', port: 80, realServers: [{ address: '2001:db8::10', method: 'fullnat' }] },
    'svc', { localAddresses: ['198.18.255.1'] }).filter((x) => /families/.test(x)),
  ['svc.realServers[0].address: an IPv6 real server in an IPv4 service: different families only with method tun']);
});

test('api.listen takes [::1]:port, which is loopback; another IPv6 address needs a token file', () => {
  assert.deepEqual(problems({ api: { listen: '[::1]:9390' } }), []);
  assert.deepEqual(problems({ api: { listen: '[2001:db8::1]:9390' } }), ['api.tokenFile: a non-loopback api.listen needs a token file']);
  assert.deepEqual(problems({ api: { listen: '[2001:db8::1]:9390', tokenFile: '/etc/fulcrum/token' } }), []);
  assert.ok(problems({ api: { listen: '::1:9390' } }).length > 0);
  assert.deepEqual(problems({ api: { listen: '[198.18.0.1]:9390' } }), ["api.listen: '[198.18.0.1]:9390' is not address:port (IPv6 as [address]:port)"]);
});

const limits = { maxServices: 16, maxDests: 64 };
const v6cfg = validateConfig({
  dataplane,
  services: [
    { protocol: 'tcp', address: '2001:db8::100', port: 80, persistence: { timeout: 60, netmask: 64 },
      realServers: [{ address: '2001:db8::10', port: 8080, method: 'nat' }, { address: '198.18.2.10', method: 'tun' }] },
    { fwmark: 5, family: 'ipv6', realServers: [{ address: '2001:db8::11' }] },
    { protocol: 'tcp', address: '198.18.0.100', port: 80, persistence: { netmask: '255.255.255.0' }, realServers: [{ address: '198.18.2.10', method: 'nat' }] },
  ],
});

test('the core gets IPv6 VIPs and servers as text, the prefix as netmask6, an IPv6 fwmark service at ::', () => {
  const n = new NativeConfigBuilder(limits).build(v6cfg);
  const [web, fwm, v4] = n.services;
  assert.deepEqual([web.address, web.netmask, web.netmask6], ['2001:db8::100', '255.255.255.255', 64]);
  assert.deepEqual(web.dests.map((d) => [d.address, d.port, d.method]), [['198.18.2.10', 80, 'tun'], ['2001:db8::10', 8080, 'nat']]);
  assert.deepEqual([fwm.address, fwm.fwmark, fwm.protocol], ['::', 5, '']);
  assert.deepEqual([v4.address, v4.netmask, v4.netmask6], ['198.18.0.100', '255.255.255.0', 128]);
  // a real server that stays keeps its id across a rebuild (ids are keyed [v6]:port)
  const b = new NativeConfigBuilder(limits);
  const first = b.build(v6cfg);
  const again = b.build(v6cfg);
  assert.deepEqual(again.services[0].dests.map((d) => d.id), first.services[0].dests.map((d) => d.id));
});

test('match rules take IPv6 prefixes for IPv6 fwmark services; the core takes them, up to /128', () => {
  const cfg = validateConfig({ ...v6cfg, matchRules: [
    { prefix: '2001:db8:0:100::/64', protocol: 'tcp', ports: '80-81', mark: 5 },
    { prefix: '198.18.0.0/24', mark: 6 }] });
  const n = new NativeConfigBuilder(limits).build(cfg);
  assert.deepEqual(n.rules[0], { prefix: '2001:db8:0:100::', prefixLength: 64, protocol: 'tcp', portLow: 80, portHigh: 81, mark: 5 });
  assert.deepEqual(nativeAddon().checkCoreConfig(n, limits).filter((x) => x.startsWith('rules')), []);
  // host bits, a length past 128, and text that is neither family are refused naming the rule
  for (const [prefix, i] of [['2001:db8::1/64', 0], ['2001:db8::/129', 0], ['2001:db8::zz/64', 0]] as const)
    assert.throws(() => validateConfig({ ...v6cfg, matchRules: [{ prefix, mark: 5 }] }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.startsWith(`matchRules[${i}].prefix: must be a network`)), prefix);
  // the addon's own bound follows the prefix's family
  const wide = { ...n, rules: [{ ...n.rules[1], prefixLength: 33 }, { ...n.rules[0], prefixLength: 128 }] };
  assert.deepEqual(nativeAddon().checkCoreConfig(wide, limits).filter((x) => x.startsWith('rules')),
    ['rules[0].prefixLength: must be an integer in 0..32']);
});

test('the addon reads IPv6 addresses of services and real servers; bad text and IPv4-mapped ones are refused by path', () => {
  const n = new NativeConfigBuilder(limits).build(v6cfg) as any;
  n.services[0].address = '2001:db8::zz';
  n.services[0].dests[1].address = '::ffff:198.18.2.10';
  n.services[2].netmask6 = 129;
  const p = nativeAddon().checkCoreConfig(n, limits);
  assert.ok(p.includes("services[0].address: '2001:db8::zz' is not an IPv4 or IPv6 address"), p.join('\n'));
  assert.ok(p.includes("services[0].dests[1].address: '::ffff:198.18.2.10' is an IPv4-mapped IPv6 address: give the IPv4 address"), p.join('\n'));
  assert.ok(p.some((x) => x.startsWith('services[2].netmask6: must be an integer in 1..128')), p.join('\n'));
  // good IPv6 text passes the reading: whatever the core says of it is about IPv6 support
  const ok = nativeAddon().checkCoreConfig(new NativeConfigBuilder(limits).build(v6cfg), limits);
  assert.ok(!ok.some((x) => /is not an IPv4|is not an IPv4 or IPv6|must be a string|netmask6/.test(x)), ok.join('\n'));
});

test('the packet core accepts IPv6 services, IPv6 fwmark services and IPv4 real servers behind IPv6 VIPs (FullNAT)', () => {
  const cfg = structuredClone(v6cfg);
  cfg.services![0].realServers![1] = { address: '198.18.2.10', port: 80, method: 'fullnat' };
  cfg.localAddresses = ['198.18.2.200'];
  assert.deepEqual(nativeAddon().checkCoreConfig(new NativeConfigBuilder(limits).build(cfg), limits), []);
});

test('mixed-family tunnels, as the kernel has them, pass the packet core both ways; NAT and DR across families do not', () => {
  assert.deepEqual(nativeAddon().checkCoreConfig(new NativeConfigBuilder(limits).build(v6cfg), limits), []);
  const v4v6 = structuredClone(v6cfg);
  v4v6.services![2].realServers = [{ address: '2001:db8::12', port: 80, method: 'tun' }];
  assert.deepEqual(nativeAddon().checkCoreConfig(new NativeConfigBuilder(limits).build(v4v6), limits), []);
  // what the config reader lets through to the core anyway (the core is the last word)
  const dr = structuredClone(v6cfg);
  dr.services![0].realServers![1] = { address: '198.18.2.10', method: 'dr' };
  assert.deepEqual(nativeAddon().checkCoreConfig(new NativeConfigBuilder(limits).build(dr), limits),
    ['services[0].dests[0].address: an IPv4 real server in an IPv6 service needs tun (IPv6 in IPv4) or fullnat (NAT64)']);
});

test('any text: the IPv6 reader agrees with libuv\'s inet_pton, its answer reads back the same, and nothing throws', async () => {
  let seed = 12345;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const pieces = ['0', '1', 'f', 'ff', 'ffff', '12345', 'db8', '2001', ':', ':', '::', '.', '1.2.3.4', '255', '256', '01', 'g', '[', ']', ' ', ''];
  const env = { program: 'ipvsadm', lookupHost: async () => undefined, services: parseServicesFile('') };
  for (let i = 0; i < 3000; i++) {
    let s = '';
    if (i % 2) for (let n = rnd(12); n > 0; n--) s += pieces[rnd(pieces.length)];
    else {
      // address-shaped: groups of 0-5 hex digits, one separator maybe doubled, maybe a dotted tail
      const groups = Array.from({ length: 1 + rnd(9) }, () => Array.from({ length: rnd(6) }, () => '0123456789abcdefABCDEF'[rnd(22)]).join(''));
      const gap = rnd(groups.length + 2);
      s = groups.map((g, j) => (j === gap ? ':' : '') + g).join(':') + (rnd(4) === 0 ? ':1.2.3.' + rnd(300) : '');
    }
    const w = parseIpv6(s);
    assert.equal(w !== undefined, net.isIPv6(s), s);
    if (w) {
      const c = canonicalIpv6(s)!;
      assert.deepEqual(parseIpv6(c), w, s);
      assert.equal(canonicalIpv6(c), c, s);
    }
    splitHostPort(s);
    splitHostPort(`[${s}]:80`);
    canonicalServiceId(`tcp:[${s}]:80`);
    validateService({ protocol: 'tcp', address: s, port: 80, realServers: [{ address: s, method: 'tun' }] }, 'svc', {});
    if (i % 10 === 0) await parseArgs(['-a', '-t', `[${s}]:80`, '-r', s, '-i'], env);
  }
});

test('the desired state keys and stores IPv6 canonical, whatever the write path spelled; refusals name the field; a reopen reads it back', async () => {
  const fileCfg = validateConfig({ dataplane: { ports: [{ name: 'p0', device: 'net_null0' }], maxServices: 8, maxRealServers: 16 } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-v6-state-'));
  const open = () => DesiredState.open(fileCfg, {}, dir, (e: Error) => { throw e; }).state;
  const st = open();
  const change = async (f: (d: ReturnType<typeof st.draft>) => void) => {
    const d = st.draft();
    f(d);
    const c = await st.check(d);
    await st.persist(c);
    st.commit(c);
  };
  await change((d) => {
    edit.addService(d, { protocol: 'tcp', address: '2001:DB8:0:0::100', port: 80, persistence: { netmask: 64 } });
    edit.addServer(d, 'tcp:[2001:db8::100]:80', { address: '2001:DB8::10', port: 8080, method: 'nat' });
    edit.addService(d, { fwmark: 5, family: 'ipv6' });
  });
  // a batch op names the service in another spelling (the route canonicalises the path)
  await change((d) => {
    const r = applyOp(d, { method: 'POST', path: `/v1/services/${encodeURIComponent('tcp:[2001:db8:0::100]:80')}/servers`,
      body: { address: '2001:db8::0:11', port: 8080, method: 'nat' } }, {});
    assert.equal(r.status, 201, JSON.stringify(r));
    const bad = applyOp(d, { method: 'POST', path: `/v1/services/${encodeURIComponent('tcp:[2001:db8::100]:80')}/servers`,
      body: { address: '198.18.2.10', method: 'nat' } }, {});
    assert.equal(bad.status, 400);
    assert.match(bad.problems!.join(), /an IPv4 real server in an IPv6 service/);
  });
  const d = st.draft();
  d.put('tcp:[2001:db8::100]:81', { protocol: 'tcp', address: '2001:db8::100', port: 81, realServers: [{ address: 'ff02::1' }] });
  await assert.rejects(st.check(d), (e: ChangeRefused) =>
    e.problems.includes('services[tcp:[2001:db8::100]:81].realServers[0].address: must be a unicast address (not multicast)'));
  const want = [
    { protocol: 'tcp', address: '2001:db8::100', port: 80, persistence: { netmask: 64 },
      realServers: [{ address: '2001:db8::10', port: 8080, method: 'nat' }, { address: '2001:db8::11', port: 8080, method: 'nat' }] },
    { fwmark: 5, family: 'ipv6' },
  ];
  assert.deepEqual([...st.ids()], ['tcp:[2001:db8::100]:80', 'fwmark6:5']);
  assert.deepEqual([...st.services()], want);
  st.close();
  const again = open();
  assert.deepEqual([...again.ids()], ['tcp:[2001:db8::100]:80', 'fwmark6:5']);
  assert.deepEqual([...again.services()], want);
  again.close();
});

test('tunnelSource6, the outer source of IPv6 tunnels: IPv6 only, restored with the dynamic part, journalled, reopened and removed', async () => {
  const dp = { ports: [{ name: 'p0', device: 'net_null0' }], maxServices: 8, maxRealServers: 16 };
  assert.equal(validateConfig({ dataplane: dp, tunnelSource6: '2001:db8::1' }).tunnelSource6, '2001:db8::1');
  assert.throws(() => validateConfig({ dataplane: dp, tunnelSource6: '198.18.0.1' }),
    (e: ConfigError) => e.problems.includes("tunnelSource6: '198.18.0.1' is not an IPv6 address"));
  const fileCfg = validateConfig({ dataplane: dp });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-v6-tsrc-'));
  const open = () => DesiredState.open(fileCfg, {}, dir, (e: Error) => { throw e; }).state;
  const st = open();
  const restore = async (doc: Record<string, unknown>) => {
    const d = st.draft();
    d.replaceAll(doc);
    const c = await st.check(d);
    await st.persist(c);
    st.commit(c);
    return c;
  };
  const c = await restore({ tunnelSource: '198.18.0.1', tunnelSource6: '2001:db8::1' });
  assert.equal(c.tunnelSource6, '2001:db8::1', 'the change carries it to the dataplane');
  assert.deepEqual([st.dynamic().tunnelSource, st.dynamic().tunnelSource6], ['198.18.0.1', '2001:db8::1']);
  const bad = st.draft();
  bad.replaceAll({ tunnelSource6: '198.18.0.2' });
  await assert.rejects(st.check(bad), (e: ChangeRefused) => e.problems.includes("tunnelSource6: '198.18.0.2' is not an IPv6 address"));
  st.close();
  const again = open();
  assert.equal(again.tunnelSource6, '2001:db8::1');
  again.close();
  const st2 = open();
  const d = st2.draft();
  d.replaceAll({ tunnelSource: '198.18.0.1' });
  const c2 = await st2.check(d);
  assert.equal(c2.tunnelSource6, null, 'removed: the dataplane goes back to its default');
  await st2.persist(c2);
  st2.commit(c2);
  st2.close();
  assert.equal(open().tunnelSource6, undefined);
});
