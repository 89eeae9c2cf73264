// ha.vrrp as specifications: what `fulcrum check` refuses, the settings with their defaults,
// the keepalived.conf serve writes, the notify FIFO's lines, and what the dataplane is told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, validateConfig } from '../../src/control/config_load';
import type { FulcrumConfig } from '../../src/control/config_schema';
import { dataplaneOptions } from '../../src/control/dataplane_options';
import { parseNotifyLine } from '../../src/ha/keepalived';
import { keepalivedConfig, vrrpProblems, vrrpSettings } from '../../src/ha/vrrp_config';

const pair = (vrrp: Record<string, unknown>): FulcrumConfig => ({
  dataplane: {
    workers: [1],
    ports: [
      { name: 'clients', device: 'net_null0', address: '198.18.0.1/24' },
      { name: 'servers', device: 'net_null1', address: '198.19.0.1/24', tap: 'k-servers' },
    ],
  },
  services: [{ protocol: 'tcp', address: '198.18.0.100', port: 80, realServers: [{ address: '198.19.0.11', port: 8080, method: 'nat' }] }],
  ha: { vrrp: { port: 'clients', virtualRouterId: 51, ...vrrp } as never },
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

test('a pair\'s ha.vrrp validates; defaults are keepalived\'s', () => {
  assert.deepEqual(problems(pair({})), []);
  const s = vrrpSettings(pair({}))!;
  assert.deepEqual({ ...s, floating: [...s.floating] }, {
    port: 'clients', iface: 'clients', source: '198.18.0.1', virtualRouterId: 51, priority: 100, advertInt: 1, version: 2,
    preempt: true, preemptDelay: 0, unicastPeers: [], floating: [],
  });
  assert.equal(vrrpSettings({ ...pair({}), ha: {} }), undefined);
});

test('the section\'s own fields are checked by the schema', () => {
  const p = problems(pair({ virtualRouterId: 0, priority: 255, advertInt: 0, authentication: { password: 'ninechars' }, colour: 'red' }));
  for (const path of ['ha.vrrp.virtualRouterId', 'ha.vrrp.priority', 'ha.vrrp.advertInt', 'ha.vrrp.authentication.password'])
    assert.ok(p.some((x) => x.startsWith(`${path}:`)), `${path} in ${p.join('\n')}`);
  assert.ok(p.some((x) => x.includes('colour')), p.join('\n'));
});

test('ports, addresses and combinations that cannot work are refused by path', () => {
  assert.deepEqual(problems(pair({ port: 'uplink' })), ["ha.vrrp.port: no port named 'uplink'"]);
  const noTap = pair({});
  noTap.dataplane.ports[0] = { ...noTap.dataplane.ports[0], tap: false };
  assert.match(problems(noTap).join(), /ha\.vrrp\.port: port 'clients' has no kernel interface/);
  const noAddr = pair({});
  delete noAddr.dataplane.ports[0].address;
  assert.match(problems(noAddr).join(), /ha\.vrrp\.port: port 'clients' has no address/);
  assert.match(problems(pair({ advertInt: 0.5, authentication: { password: 'pw' } })).join(),
    /ha\.vrrp\.authentication: VRRP version 3/);
  assert.match(problems(pair({ advertInt: 41.5 })).join(), /ha\.vrrp\.advertInt: .*40\.95/);
  assert.deepEqual(problems(pair({ unicastPeers: ['198.18.0.1'] })),
    ["ha.vrrp.unicastPeers[0]: 198.18.0.1 is this director's own address on port 'clients'"]);
  assert.deepEqual(problems(pair({ unicastPeers: ['198.18.0.2', '198.18.0.2'] })), ['ha.vrrp.unicastPeers: an address is listed twice']);
  assert.deepEqual(problems(pair({ floatingAddresses: [{ port: 'inside', address: '198.19.0.254' }] })),
    ["ha.vrrp.floatingAddresses[0].port: no port named 'inside'"]);
  assert.deepEqual(problems(pair({ floatingAddresses: [{ port: 'servers', address: '198.19.0.1' }] })),
    ["ha.vrrp.floatingAddresses[0].address: 198.19.0.1 is port 'servers''s own address, which never moves"]);
  assert.deepEqual(problems(pair({ floatingAddresses: [{ port: 'servers', address: '198.19.0.254' }, { port: 'clients', address: '198.19.0.254' }] })),
    ['ha.vrrp.floatingAddresses[1].address: 198.19.0.254 is listed twice']);
  assert.deepEqual(vrrpProblems(pair({ floatingAddresses: [{ port: 'servers', address: '198.19.0.254' }] })), []);
  // IPv6 floating addresses (the NAT servers' IPv6 gateway), compared in canonical form
  const six = pair({ floatingAddresses: [{ port: 'servers', address: '2001:db8:19::fe' }, { port: 'servers', address: 'fe80::1' }] });
  six.dataplane.ports[1].address6 = ['2001:db8:19::1/64'];
  assert.deepEqual(problems(six), []);
  six.ha!.vrrp!.floatingAddresses!.push({ port: 'servers', address: '2001:DB8:19::FE' }, { port: 'servers', address: '2001:db8:19:0::1' },
    { port: 'servers', address: 'ff02::1' });
  assert.deepEqual(vrrpProblems(six), [
    'ha.vrrp.floatingAddresses[2].address: 2001:DB8:19::FE is listed twice',
    "ha.vrrp.floatingAddresses[3].address: 2001:db8:19:0::1 is port 'servers''s own address, which never moves",
    'ha.vrrp.floatingAddresses[4].address: must be a unicast address (not multicast)']);
});

test('keepalived.conf: one instance, BACKUP at start, no VIPs, the track file and the FIFO', () => {
  const text = keepalivedConfig(vrrpSettings(pair({ priority: 150 }))!, { fifo: '/s/k/notify.fifo', trackFile: '/s/k/health' });
  assert.equal(text, [
    '# Written by fulcrum serve from ha.vrrp at every start: edits here are overwritten.',
    '# keepalived decides MASTER/BACKUP; Fulcrum\'s dataplane holds the VIPs (no virtual_ipaddress).',
    'global_defs {',
    '  router_id fulcrum-clients',
    '  notify_fifo "/s/k/notify.fifo"',
    '}',
    '',
    'track_file fulcrum_health {',
    '  file "/s/k/health"',
    '  weight 0',
    '}',
    '',
    'vrrp_instance fulcrum {',
    '  state BACKUP',
    '  interface clients',
    '  virtual_router_id 51',
    '  priority 150',
    '  advert_int 1',
    '  track_file {',
    '    fulcrum_health',
    '  }',
    '}',
    '',
  ].join('\n'));
});

test('keepalived.conf: nopreempt, preempt_delay, version 3, password, unicast peers', () => {
  const paths = { fifo: '/f', trackFile: '/t' };
  const a = keepalivedConfig(vrrpSettings(pair({ preempt: false, authentication: { password: 'pw' }, unicastPeers: ['198.18.0.2'] }))!, paths);
  assert.match(a, /\n {2}nopreempt\n/);
  assert.match(a, /\n {2}authentication {\n {4}auth_type PASS\n {4}auth_pass "pw"\n {2}}\n/);
  assert.match(a, /\n {2}unicast_src_ip 198\.18\.0\.1\n {2}unicast_peer {\n {4}198\.18\.0\.2\n {2}}\n/);
  assert.doesNotMatch(a, /version 3|preempt_delay/);
  const b = keepalivedConfig(vrrpSettings(pair({ advertInt: 0.25, preemptDelay: 30 }))!, paths);
  assert.match(b, /\n {2}advert_int 0\.25\n {2}version 3\n/);
  assert.match(b, /\n {2}preempt_delay 30\n/);
  assert.doesNotMatch(b, /nopreempt|authentication|unicast/);
});

test('the notify FIFO: this instance\'s states, nothing else', () => {
  assert.deepEqual(parseNotifyLine('INSTANCE "fulcrum" MASTER 150', 'fulcrum'), { state: 'MASTER', priority: 150 });
  assert.deepEqual(parseNotifyLine('INSTANCE "fulcrum" FAULT 100', 'fulcrum'), { state: 'FAULT', priority: 100 });
  assert.deepEqual(parseNotifyLine('INSTANCE "fulcrum" BACKUP 100\r', 'fulcrum'), { state: 'BACKUP', priority: 100 });
  assert.equal(parseNotifyLine('INSTANCE "other" MASTER 150', 'fulcrum'), undefined);
  assert.equal(parseNotifyLine('GROUP "fulcrum" MASTER 150', 'fulcrum'), undefined);
  assert.equal(parseNotifyLine('INSTANCE "fulcrum" MASTER_RX_LOWER_PRI 150', 'fulcrum'), undefined);
  assert.equal(parseNotifyLine('', 'fulcrum'), undefined);
});

test('the dataplane starts without its VIPs under ha.vrrp, with the floating addresses by port', () => {
  const alone = dataplaneOptions({ ...pair({}), ha: undefined });
  assert.equal(alone.vipOwner, true);
  assert.equal(alone.ports.some((p) => p.floating), false);
  const o = dataplaneOptions(pair({ floatingAddresses: [{ port: 'servers', address: '198.19.0.254' }, { port: 'servers', address: '198.19.0.253' }] }));
  assert.equal(o.vipOwner, false);
  assert.deepEqual(o.ports.map((p) => p.floating), [undefined, ['198.19.0.254', '198.19.0.253']]);
  const dual = dataplaneOptions(pair({ floatingAddresses: [{ port: 'servers', address: '198.19.0.254' }, { port: 'servers', address: '2001:db8:19::fe' }] }));
  assert.deepEqual(dual.ports[1].floating, ['198.19.0.254', '2001:db8:19::fe']);
});
