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
    neighbors: [{ name: 'n0', address: '198.18.61.1', as: 65000, port: 'lan', iface: 'k-lan', source: '198.18.61.11' }],
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
  const c = birdConfig(s, '/state/bird/vips.conf');
  assert.match(c, /\nrouter id 198\.18\.61\.11;\n/);
  assert.doesNotMatch(c, /protocol kernel/, 'the host\'s routes are never touched');
  assert.match(c, /\nprotocol static fulcrum_vips \{\n  ipv4;\ninclude "\/state\/bird\/vips\.conf";\n\}/);
  assert.match(c, /protocol bgp n0 \{[^}]*local 198\.18\.61\.11 as 65001;\n  neighbor 198\.18\.61\.1 as 65000;\n  interface "k-lan";\n  direct;\n  hold time 9;\n  keepalive time 3;/);
  assert.match(c, /password "s3cret";/);
  assert.match(c, /import none;\n    export where proto = "fulcrum_vips" && net\.len = 32;\n    next hop self;/);
  assert.equal(vipsConfig(['198.18.62.100', '198.18.62.101']),
    '# The VIPs this director announces now (fulcrum serve rewrites this file).\nroute 198.18.62.100/32 blackhole;\nroute 198.18.62.101/32 blackhole;\n');
});

test('bird -p parses what serve writes', { skip: spawnSync('sh', ['-c', 'command -v bird']).status !== 0 ? 'bird2 is not installed' : undefined }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fulcrum-bird-'));
  try {
    const s = bgpSettings(tier({ neighbors: [{ address: '198.18.61.1', as: 65000, port: 'lan', password: 'x' }, { address: '198.18.61.2', as: 65000, port: 'lan' }] }))!;
    fs.writeFileSync(path.join(dir, 'vips.conf'), vipsConfig(['198.18.62.100']));
    fs.writeFileSync(path.join(dir, 'bird.conf'), birdConfig(s, path.join(dir, 'vips.conf')));
    const r = spawnSync('bird', ['-p', '-c', path.join(dir, 'bird.conf')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
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
  assert.equal(vipOfKey('fwmark 5'), undefined);
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
