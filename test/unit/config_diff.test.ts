// The config diff a reload logs: a line per service or real server added, removed or changed,
// naming what changed; the other run-time sections; and, apart, the settings that need a
// restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffConfig } from '../../src/control/config_diff';
import type { FulcrumConfig } from '../../src/control/config_schema';

const base = (): FulcrumConfig => ({
  dataplane: { ports: [{ name: 'p0', device: 'net_null0', address: '198.18.0.1/24' }], workers: [1], connTableSize: 1 << 20 },
  api: { listen: '127.0.0.1:9390' },
  services: [
    { protocol: 'tcp', address: '198.18.0.100', port: 80, scheduler: 'wrr', realServers: [
      { address: '198.18.1.11', port: 80, method: 'nat', weight: 3 },
      { address: '198.18.1.12', port: 80, method: 'nat' },
    ] },
    { fwmark: 5, scheduler: 'sh', realServers: [] },
  ],
});

test('identical configs, and absent fields against their defaults, differ in nothing', () => {
  assert.deepEqual(diffConfig(base(), base()), { changes: [], restartOnly: [] });
  const b = base();
  b.timeouts = { tcp: 900, tcpfin: 120, udp: 300 };  // what a reload writes when the file has none
  b.matchRules = [];
  b.services![0].realServers![1].weight = 1;
  b.services![1].quorum = 1;
  b.services![1].onePacket = false;
  assert.deepEqual(diffConfig(base(), b), { changes: [], restartOnly: [] });
});

test('each real server added, removed or changed is a line naming what changed', () => {
  const b = base();
  const rs = b.services![0].realServers!;
  rs[0].weight = 5;
  rs[1] = { address: '198.18.1.12', port: 80, method: 'dr', weight: 2, upperThreshold: 100 };
  rs.push({ address: '198.18.1.13', port: 8080, method: 'nat', weight: 4 });
  b.services![1].realServers = [{ address: '198.18.1.20' }];
  assert.deepEqual(diffConfig(base(), b).changes, [
    'tcp 198.18.0.100:80 -> 198.18.1.11:80: weight 3 -> 5',
    'tcp 198.18.0.100:80 -> 198.18.1.12:80: method nat -> dr, upperThreshold 0 -> 100, weight 1 -> 2',
    'tcp 198.18.0.100:80 -> 198.18.1.13:8080: added (nat, weight 4)',
    'fwmark 5 -> 198.18.1.20:0: added (dr, weight 1)',
  ]);
  assert.deepEqual(diffConfig(b, base()).changes, [
    'tcp 198.18.0.100:80 -> 198.18.1.13:8080: removed (weight 4)',
    'tcp 198.18.0.100:80 -> 198.18.1.11:80: weight 5 -> 3',
    'tcp 198.18.0.100:80 -> 198.18.1.12:80: method dr -> nat, upperThreshold 100 -> 0, weight 2 -> 1',
    'fwmark 5 -> 198.18.1.20:0: removed (weight 1)',
  ]);
});

test('services added, removed or changed, and the other run-time sections', () => {
  const b = base();
  b.services![0].scheduler = 'rr';
  b.services![0].persistence = { timeout: 300 };
  b.services![0].healthChecks = [{ type: 'tcp' }];
  b.services!.splice(1, 1);
  b.services!.push({ protocol: 'udp', address: '198.18.0.53', port: 53, realServers: [{ address: '198.18.1.31' }] });
  b.timeouts = { tcp: 600 };
  b.tunnelSource = '198.18.0.1';
  b.tunnelSource6 = '2001:db8::1';
  const a = base();
  a.services![0].persistence = { timeout: 60, netmask: '255.255.255.0' };
  assert.deepEqual(diffConfig(a, b).changes, [
    'fwmark 5: removed (0 real servers)',
    'tcp 198.18.0.100:80: healthChecks changed, persistence.netmask 255.255.255.0 -> -, persistence.timeout 60 -> 300, scheduler wrr -> rr',
    'udp 198.18.0.53:53: added (wlc, 1 real server)',
    'timeouts.tcp 900 -> 600',
    'tunnelSource - -> 198.18.0.1',
    'tunnelSource6 - -> 2001:db8::1',
  ]);
});

test('settings a running director cannot change are named apart, services not among them', () => {
  const b = base();
  b.dataplane.ports.push({ name: 'p1', device: 'net_null1' });
  b.dataplane.connTableSize = 1 << 22;
  b.dataplane.workers = [1, 2];
  b.api = { listen: '127.0.0.1:9391' };
  b.localAddresses = ['198.18.0.200'];
  b.stateDir = '/tmp/elsewhere';
  b.services![0].realServers![0].weight = 4;
  const d = diffConfig(base(), b);
  assert.deepEqual(d.restartOnly, ['api.listen', 'dataplane.connTableSize', 'dataplane.ports', 'dataplane.workers', 'localAddresses', 'stateDir']);
  assert.deepEqual(d.changes, ['tcp 198.18.0.100:80 -> 198.18.1.11:80: weight 3 -> 4']);
});
