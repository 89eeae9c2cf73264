// The dataplane section's IPv6: ports' address6, IPv6 routes, IPv6 FullNAT local addresses and
// acceptRa, as the config file writes them and as the addon receives them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, validateConfig } from '../../src/control/config_load';
import { dataplaneOptions } from '../../src/control/dataplane_options';
import { ipv6Value, parseCidr6 } from '../../src/control/cidr6';

const base = () => ({
  dataplane: {
    workers: [1],
    ports: [
      { name: 'up', device: 'net_null0', address: '198.18.0.1/24', address6: ['2001:db8:18::1/64'] },
      { name: 'in', device: 'net_null1', address6: ['2001:db8:19::1/64'] },
    ],
    routes: [
      { prefix: '0.0.0.0/0', via: '198.18.0.254' },
      { prefix: '::/0', via: '2001:db8:18::fe' },
      { prefix: '2001:db8:100::/48', via: 'fe80::1', port: 'in' },
    ],
    acceptRa: true,
  },
  localAddresses: ['198.19.0.200', '2001:db8:19::200'],
  services: [],
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

test('IPv6 port addresses, routes, local addresses and acceptRa validate and reach the addon', () => {
  assert.deepEqual(problems(base()), []);
  const o = dataplaneOptions(validateConfig(base()));
  assert.deepEqual(o.ports[0].address6, ['2001:db8:18::1/64']);
  assert.equal(o.ports[1].address, undefined);
  assert.deepEqual(o.routes[1], { prefix: '::/0', via: '2001:db8:18::fe' });
  assert.deepEqual(o.routes[2], { prefix: '2001:db8:100::/48', via: 'fe80::1', port: 'in' });
  assert.deepEqual(o.localAddresses, ['198.19.0.200', '2001:db8:19::200']);
  assert.equal(o.acceptRa, true);
});

test('acceptRa is off unless asked for', () => {
  const c = base() as any;
  delete c.dataplane.acceptRa;
  assert.equal(dataplaneOptions(validateConfig(c)).acceptRa, undefined);
});

test('bad IPv6 dataplane settings are refused by path', () => {
  const c = base() as any;
  c.dataplane.ports[0].address6 = ['2001:db8:18::1', 'fe80::1/64', '2001:db8::/129'];
  c.dataplane.routes = [
    { prefix: '2001:db8:100::1/48', via: '2001:db8:18::fe' },     // host bits set
    { prefix: '2001:db8:200::/48', via: '198.18.0.254' },         // gateway of the other family
    { prefix: '2001:db8:300::/48', via: 'fe80::1' },              // link-local gateway, no port
    { prefix: '10.0.0.0/8', via: '2001:db8:18::fe' },
  ];
  c.localAddresses = ['2001:db8::zz'];
  const p = problems(c);
  assert.ok(p.includes('dataplane.ports[0].address6[0]: must be an IPv6 address/len'), p.join('\n'));
  assert.ok(p.some((s) => s.startsWith('dataplane.ports[0].address6[1]: fe80::1/64 is not a global unicast address')), p.join('\n'));
  assert.ok(p.includes('dataplane.ports[0].address6[2]: must be an IPv6 address/len'), p.join('\n'));
  assert.ok(p.includes('dataplane.routes[0].prefix: must be an IPv6 network address/len'), p.join('\n'));
  assert.ok(p.includes('dataplane.routes[1].via: an IPv6 route\'s gateway must be an IPv6 address'), p.join('\n'));
  assert.ok(p.includes('dataplane.routes[2].port: a link-local gateway needs the port it is on'), p.join('\n'));
  assert.ok(p.includes('dataplane.routes[3].via: an IPv4 route\'s gateway must be an IPv4 address'), p.join('\n'));
  assert.ok(p.includes('localAddresses[0]: \'2001:db8::zz\' is not an IPv4 or IPv6 address'), p.join('\n'));
});

test('IPv6 text is read as its 128-bit value, compressed, full or with a dotted tail', () => {
  assert.equal(ipv6Value('2001:db8::1'), (0x20010db8n << 96n) | 1n);
  assert.equal(ipv6Value('2001:0db8:0:0:0:0:0:1'), ipv6Value('2001:db8::1'));
  assert.equal(ipv6Value('::ffff:198.18.0.1'), (0xffffn << 32n) | 0xc6120001n);
  assert.equal(ipv6Value('::'), 0n);
  assert.equal(ipv6Value('198.18.0.1'), undefined);
  assert.deepEqual(parseCidr6('2001:db8::/32'), { value: 0x20010db8n << 96n, len: 32 });
  assert.equal(parseCidr6('2001:db8::1/32'), undefined);
  assert.deepEqual(parseCidr6('2001:db8::1/32', true), { value: (0x20010db8n << 96n) | 1n, len: 32 });
});
