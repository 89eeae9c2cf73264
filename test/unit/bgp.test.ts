// ha.bgp and ha.sloppyTcp as specifications: what `fulcrum check` refuses, the settings with
// their defaults, the bird.conf serve writes (which `bird -p` parses where BIRD is installed),
// which VIPs are announced and why the others are not, and BIRD's protocol table as read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, validateConfig } from '../../src/control/config_load';
import type { FulcrumConfig } from '../../src/control/config_schema';
import { Director } from '../../src/control/director';
import { chooseVips, vipOfKey } from '../../src/ha/bgp';
import { bgpProblems, bgpSettings, birdConfig, vipsConfig } from '../../src/ha/bgp_config';
import { parseProtocols } from '../../src/ha/bird';

const tier = (bgp: Record<string, unknown>, extra: Partial<FulcrumConfig> = {}): FulcrumConfig => ({
  dataplane: {
    workers: [1],
    ports: [
      { name: 'lan', device: 'net_null0', address: '198.18.61.11/24', tap: 'k-lan' },
      { name: 'inside', device: 'net_null1', address: '198.19.0.1/24', tap: false },
    ],
  },
  services: [{ protocol: 'tcp', address: '198.18.62.100', port: 80, scheduler: 'mh', realServers: [{ address: '198.18.61.21', method: 'dr' }] }],
  ha: { bgp: { localAs: 65001, neighbors: [{ address: '198.18.61.1', as: 65000, port: 'lan' }], ...bgp } as never },
  ...extra,
});

function problems(doc: unknown): string[] {
  try {
    validateConfig(doc);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

test('a tier\'s ha.bgp validates; the defaults', () => {
  assert.deepEqual(problems(tier({})), []);
  assert.deepEqual(bgpSettings(tier({})), {
    localAs: 65001, routerId: '198.18.61.11', holdTime: 9, keepaliveTime: 3, withdrawDelay: 2,
    neighbors: [{ name: 'n0', address: '198.18.61.1', as: 65000, port: 'lan', iface: 'k-lan', source: '198.18.61.11', nextHop4: '198.18.61.11' }],
  });
  assert.equal(bgpSettings({ ...tier({}), ha: {} }), undefined);
  assert.equal(bgpSettings(tier({ routerId: '10.9.9.9', holdTime: 30 }))!.keepaliveTime, 10);
});

test('ha.bgp problems name the field and the fix', () => {
  const n = (o: Record<string, unknown>) => tier({ neighbors: [{ address: '198.18.61.1', as: 65000, port: 'lan', ...o }] });
  assert.deepEqual(bgpProblems(n({ port: 'nope' })), ['ha.bgp.neighbors[0].port: no port named \'nope\'']);
  assert.match(bgpProblems(n({ port: 'inside', address: '198.19.0.254' })).join(), /has no kernel interface \(tap: false\)/);
  assert.match(bgpProblems(n({ address: '198.18.61.11' })).join(), /is port 'lan''s own address/);
  assert.match(bgpProblems(n({ address: '10.0.0.1' })).join(), /not on port 'lan''s segment \(198\.18\.61\.11\/24\); neighbours are directly connected/);
  assert.match(bgpProblems(tier({ neighbors: [{ address: '198.18.61.1', as: 1, port: 'lan' }, { address: '198.18.61.1', as: 2, port: 'lan' }] })).join(), /listed twice/);
  assert.match(bgpProblems(tier({ holdTime: 9, keepaliveTime: 4 })).join(), /keepaliveTime: at most a third of holdTime/);
  assert.ok(problems(tier({ localAs: 0 })).some((p) => /localAs/.test(p)), 'the schema bounds the AS');
  assert.ok(problems(n({ password: 'has space' })).some((p) => /password/.test(p)));
  assert.ok(problems({ ...tier({}), ha: { sloppyTcp: 'yes' } }).some((p) => /sloppyTcp/.test(p)));
});

test('bird.conf: BGP only, no kernel protocol, the VIPs of the static protocol exported with the port address as next hop', () => {
  const s = bgpSettings(tier({ neighbors: [{ address: '198.18.61.1', as: 65000, port: 'lan', password: 's3cret' }] }))!;
  const c = birdConfig(s, { v4: '/state/bird/vips.conf', v6: '/state/bird/vips6.conf' });
  assert.match(c, /\nrouter id 198\.18\.61\.11;\n/);
  assert.doesNotMatch(c, /protocol kernel/, 'the host\'s routes are never touched');
  assert.match(c, /\nprotocol static fulcrum_vips \{\n  ipv4;\ninclude "\/state\/bird\/vips\.conf";\n\}/);
  assert.match(c, /protocol bgp n0 \{[^}]*local 198\.18\.61\.11 as 65001;\n  neighbor 198\.18\.61\.1 as 65000;\n  interface "k-lan";\n  direct;\n  hold time 9;\n  keepalive time 3;/);
  assert.match(c, /password "s3cret";/);
  assert.match(c, /import none;\n    export where proto = "fulcrum_vips" && net\.len = 32;\n    next hop self;/);
  assert.doesNotMatch(c, /  ipv6 \{/, 'a port without an IPv6 address carries no IPv6');
  assert.deepEqual(vipsConfig(['198.18.62.100', '198.18.62.101']), {
    v4: '# The VIPs this director announces now (fulcrum serve rewrites this file).\nroute 198.18.62.100/32 blackhole;\nroute 198.18.62.101/32 blackhole;\n',
    v6: '# The VIPs this director announces now (fulcrum serve rewrites this file).\n' });
});

const dual = (neighbors: unknown[], extra: Record<string, unknown> = {}): FulcrumConfig => {
  const c = tier({ neighbors, ...extra });
  c.dataplane.ports[0].address6 = ['2001:db8:61::11/64'];
  return c;
};

test('dual stack: a session carries both families where its port has both addresses, the other family\'s next hop the port\'s address of it', () => {
  // an IPv4 session: IPv4 next hop self, IPv6 VIPs with the port's IPv6 address as next hop
  const v4 = bgpSettings(dual([{ address: '198.18.61.1', as: 65000, port: 'lan' }]))!;
  assert.deepEqual(v4.neighbors[0], { name: 'n0', address: '198.18.61.1', as: 65000, port: 'lan', iface: 'k-lan',
    source: '198.18.61.11', nextHop4: '198.18.61.11', nextHop6: '2001:db8:61::11' });
  const c4 = birdConfig(v4, { v4: '/s/vips.conf', v6: '/s/vips6.conf' });
  assert.match(c4, /\nprotocol static fulcrum_vips6 \{\n  ipv6;\ninclude "\/s\/vips6\.conf";\n\}/);
  assert.match(c4, /  ipv4 \{\n    import none;\n    export where proto = "fulcrum_vips" && net\.len = 32;\n    next hop self;\n  \};\n  ipv6 \{\n    import none;\n    export where proto = "fulcrum_vips6" && net\.len = 128;\n    next hop address 2001:db8:61::11;\n  \};/);
  // an IPv6 session: the reverse; the router id stays the port's IPv4 address
  const v6 = bgpSettings(dual([{ address: '2001:db8:61::1', as: 65000, port: 'lan' }]))!;
  assert.equal(v6.neighbors[0].source, '2001:db8:61::11');
  assert.equal(v6.routerId, '198.18.61.11');
  const c6 = birdConfig(v6, { v4: '/s/vips.conf', v6: '/s/vips6.conf' });
  assert.match(c6, /local 2001:db8:61::11 as 65001;\n  neighbor 2001:db8:61::1 as 65000;/);
  assert.match(c6, /net\.len = 32;\n    next hop address 198\.18\.61\.11;\n  \};\n  ipv6 \{\n    import none;\n    export where proto = "fulcrum_vips6" && net\.len = 128;\n    next hop self;/);
  assert.deepEqual(vipsConfig(['198.18.62.100', '2001:db8:62::100']).v6,
    '# The VIPs this director announces now (fulcrum serve rewrites this file).\nroute 2001:db8:62::100/128 blackhole;\n');
});

test('dual stack problems: an IPv6 neighbour needs the port\'s IPv6 address and its segment; a router id without any IPv4', () => {
  assert.deepEqual(problems(dual([{ address: '2001:db8:61::1', as: 65000, port: 'lan' }])), []);
  assert.match(bgpProblems(tier({ neighbors: [{ address: '2001:db8:61::1', as: 65000, port: 'lan' }] })).join(),
    /port 'lan' has no IPv6 address \(address6\)/);
  assert.match(bgpProblems(dual([{ address: '2001:db8:99::1', as: 65000, port: 'lan' }])).join(),
    /2001:db8:99::1 is not on port 'lan''s segment \(2001:db8:61::11\/64\)/);
  assert.match(bgpProblems(dual([{ address: '2001:DB8:61::11', as: 65000, port: 'lan' }])).join(), /is port 'lan''s own address/);
  const v6only = dual([{ address: '2001:db8:61::1', as: 65000, port: 'lan' }]);
  delete v6only.dataplane.ports[0].address;
  assert.match(bgpProblems(v6only).join(), /ha\.bgp\.routerId: needed when no neighbour's port has an IPv4 address/);
  v6only.ha!.bgp!.routerId = '198.18.61.11';
  assert.deepEqual(bgpProblems(v6only), []);
  assert.equal(bgpSettings(v6only)!.neighbors[0].nextHop4, undefined);
  assert.doesNotMatch(birdConfig(bgpSettings(v6only)!, { v4: 'a', v6: 'b' }), /  ipv4 \{/, 'no IPv4 address, no IPv4 channel');
});

test('bird -p parses what serve writes', { skip: spawnSync('sh', ['-c', 'command -v bird']).status !== 0 ? 'bird2 is not installed' : undefined }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-bird-'));
  try {
    const s = bgpSettings(tier({ neighbors: [{ address: '198.18.61.1', as: 65000, port: 'lan', password: 'x' }, { address: '198.18.61.2', as: 65000, port: 'lan' }] }))!;
    const files = { v4: path.join(dir, 'vips.conf'), v6: path.join(dir, 'vips6.conf') };
    const vips = vipsConfig(['198.18.62.100', '2001:db8:62::100']);
    fs.writeFileSync(files.v4, vips.v4);
    fs.writeFileSync(files.v6, vips.v6);
    // IPv4 only, and dual stack over sessions of both families
    const d = bgpSettings(dual([{ address: '198.18.61.1', as: 65000, port: 'lan' }, { address: '2001:db8:61::1', as: 65000, port: 'lan' }]))!;
    for (const settings of [s, d]) {
      fs.writeFileSync(path.join(dir, 'bird.conf'), birdConfig(settings, files));
      const r = spawnSync('bird', ['-p', '-c', path.join(dir, 'bird.conf')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a VIP is announced while every service on it has quorum and the director is in', () => {
  const up = { dataplaneRunning: true, drained: false, stopping: false };
  const svcs = [
    { vip: '198.18.62.101', hasQuorum: true },
    { vip: '198.18.62.100', hasQuorum: true },
    { vip: '198.18.62.100', hasQuorum: false },  // :443 on the same VIP lost its servers
    { vip: '198.18.62.9', hasQuorum: true },
    { hasQuorum: true },                          // a fwmark service: no VIP of its own
  ];
  assert.deepEqual(chooseVips(svcs, up), {
    announce: ['198.18.62.9', '198.18.62.101'],
    withheld: [{ prefix: '198.18.62.100/32', reason: 'a service on it has no quorum' }],
  });
  for (const [c, reason] of [[{ ...up, drained: true }, /drained by the operator/], [{ ...up, stopping: true }, /stopping/],
    [{ ...up, dataplaneRunning: false }, /dataplane is not running/]] as const) {
    const r = chooseVips(svcs, c);
    assert.deepEqual(r.announce, []);
    assert.equal(r.withheld.length, 3);
    assert.match(r.withheld[0].reason, reason);
  }
  assert.equal(vipOfKey('tcp 198.18.62.100:80'), '198.18.62.100');
  assert.equal(vipOfKey('tcp [2001:db8:62::100]:80'), '2001:db8:62::100');
  assert.equal(vipOfKey('fwmark 5'), undefined);
  assert.equal(vipOfKey('fwmark6 5'), undefined);
});

test('IPv6 VIPs are /128s, listed after IPv4 ones, and withheld while no session carries IPv6', () => {
  const up = { dataplaneRunning: true, drained: false, stopping: false };
  const svcs = [{ vip: '2001:db8:62::100', hasQuorum: true }, { vip: '198.18.62.100', hasQuorum: true },
    { vip: '2001:db8:62::9', hasQuorum: true }, { vip: '2001:db8:62::a', hasQuorum: false }];
  assert.deepEqual(chooseVips(svcs, up), {
    announce: ['198.18.62.100', '2001:db8:62::9', '2001:db8:62::100'],
    withheld: [{ prefix: '2001:db8:62::a/128', reason: 'a service on it has no quorum' }],
  });
  const v4only = chooseVips(svcs, up, new Set([4]));
  assert.deepEqual(v4only.announce, ['198.18.62.100']);
  assert.deepEqual(v4only.withheld.map((w) => w.prefix), ['2001:db8:62::9/128', '2001:db8:62::a/128', '2001:db8:62::100/128']);
  assert.match(v4only.withheld[0].reason, /no BGP session carries IPv6 \(no neighbour's port has an IPv6 address\)/);
});

test('birdc show protocols is read row by row', () => {
  const text = `BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     05:47:33.123  
fulcrum_vips Static   master4    up     05:47:33.123  
n0         BGP        ---        up     05:47:34.456  Established   
n1         BGP        ---        start  05:47:33.123  Active        Socket: Connection refused
`;
  assert.deepEqual(parseProtocols(text).filter((p) => p.proto === 'BGP'), [
    { name: 'n0', proto: 'BGP', state: 'up', since: '05:47:34.456', info: 'Established' },
    { name: 'n1', proto: 'BGP', state: 'start', since: '05:47:33.123', info: 'Active        Socket: Connection refused' },
  ]);
});

test('ha.sloppyTcp reaches the dataplane\'s core config; absent, it is off', () => {
  const seen: unknown[] = [];
  const addon = { start: (_o: unknown, core: unknown) => { seen.push(core); return {} as never; } } as never;
  new Director(addon, { ...tier({}), ha: { sloppyTcp: true } });
  new Director(addon, { ...tier({}), ha: {} });
  assert.equal((seen[0] as { sloppyTcp?: boolean }).sloppyTcp, true);
  assert.equal((seen[1] as { sloppyTcp?: boolean }).sloppyTcp, undefined);
});
