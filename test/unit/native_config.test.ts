// From the config file to the packet core: ids stay stable across reloads, real servers go
// newest first, and the core itself accepts what the control side built — or names the
// problem by path when it would not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/control/config_load';
import { IdMap, NativeConfigBuilder, NativeIds, nativeService } from '../../src/control/native_config';
import { nativeAddon } from '../../src/native';

const limits = { maxServices: 16, maxDests: 64 };

const cfg = validateConfig({
  dataplane: { ports: [{ name: 'p0', device: 'net_null0' }] },
  localAddresses: ['10.255.0.1'],
  services: [
    { protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wrr',
      realServers: [
        { address: '192.168.1.10', port: 8080, method: 'nat', weight: 3 },
        { address: '192.168.1.11', port: 8080, method: 'fullnat', weight: 1 },
        { address: '192.168.1.12', port: 9999, method: 'dr' },
      ] },
    { fwmark: 7, scheduler: 'mh', schedFlags: ['mh-port'], persistence: { netmask: '255.255.255.0' },
      realServers: [{ address: '192.168.1.20', method: 'tun' }] },
  ],
  matchRules: [{ prefix: '10.9.0.0/16', protocol: 'tcp', ports: '8000-8999', mark: 7 }],
});

test('the native config has the core\'s flags, newest-first servers and forced DR ports', () => {
  const n = new NativeConfigBuilder(limits).build(cfg);
  assert.deepEqual(n.services[0].dests.map((d) => d.address), ['192.168.1.12', '192.168.1.11', '192.168.1.10']);
  assert.equal(n.services[0].dests[0].port, 80, 'DR cannot map ports: the service port is forced');
  assert.equal(n.services[1].flags, 0x1 | 0x10);
  assert.equal(n.services[1].protocol, '');
  assert.deepEqual(n.rules[0], { prefix: '10.9.0.0', prefixLength: 16, protocol: 'tcp', portLow: 8000, portHigh: 8999, mark: 7 });
  assert.deepEqual(nativeAddon().checkCoreConfig(n, limits), []);
});

test('ids survive a reload, and a removed server frees its id without moving the others', () => {
  const b = new NativeConfigBuilder(limits);
  const first = b.build(cfg);
  const edited = structuredClone(cfg);
  edited.services![0].realServers!.splice(1, 1);
  const second = b.build(edited);
  const ids = (n: typeof first) => Object.fromEntries(n.services[0].dests.map((d) => [d.address, d.id]));
  assert.equal(ids(second)['192.168.1.10'], ids(first)['192.168.1.10']);
  assert.equal(ids(second)['192.168.1.12'], ids(first)['192.168.1.12']);
  assert.equal(second.services[1].id, first.services[1].id);
});

test('IdMap hands out fresh ids before reusing freed ones, and refuses beyond its limit', () => {
  const m = new IdMap(3);
  assert.deepEqual([...m.assign(['a', 'b']).values()], [0, 1]);
  assert.equal(m.assign(['b', 'c']).get('c'), 2);
  assert.equal(m.assign(['b', 'c', 'd']).get('d'), 0);
  assert.throws(() => m.assign(['b', 'c', 'd', 'e']), /more than 3 entries/);
});

test('a change\'s ids are undone exactly: fresh, reused and freed ones, services and real servers', () => {
  const ids = new NativeIds({ maxServices: 4, maxDests: 4 });
  const [a, b] = cfg.services!;
  const na = nativeService(a, ids);
  const nb = nativeService(b, ids);
  const before = { a: na.dests.map((d) => d.id), next: nb.dests.map((d) => d.id) };
  const log = ids.begin();
  // a loses its first real server (its id is freed) and b goes (its ids too); then a new service takes ids.
  const a2 = { ...a, realServers: a.realServers!.slice(1) };
  ids.releaseGone('tcp:10.0.0.1:80', na, a2, log);
  const na2 = nativeService(a2, ids, log, na);
  assert.deepEqual(na2.dests.map((d) => d.id), na.dests.slice(0, 2).map((d) => d.id), 'the servers that stay keep their ids');
  ids.releaseGone('fwmark:7', nb, undefined, log);
  const udp = { protocol: 'udp' as const, address: '10.0.0.2', port: 53, realServers: [{ address: '192.168.1.30', port: 53, method: 'nat' as const }, { address: '192.168.1.31', port: 53, method: 'nat' as const }] };
  const c = nativeService(udp, ids, log);
  assert.deepEqual(c.dests.map((d) => d.id).sort(), [before.a[2], before.next[0]].sort(), 'freed ids are reused once the fresh ones are gone');
  ids.undo(log);
  // As before the change: the services' ids as they were, and every real server id taken again.
  assert.equal(ids.services.get('fwmark:7'), 1);
  assert.equal(ids.services.get('udp:10.0.0.2:53'), undefined);
  assert.throws(() => nativeService(udp, ids), /more than 4 entries/, 'a\'s and b\'s real servers hold all four ids');
});

test('the core refuses wrong types and impossible configs, naming the field', () => {
  const n = new NativeConfigBuilder(limits).build(cfg) as any;
  n.services[0].dests[0].weight = 'heavy';
  n.services[1].mhTableSize = 4096;
  n.tunnelSource = '1.2.3';
  const p = nativeAddon().checkCoreConfig(n, limits);
  assert.ok(p.includes('services[0].dests[0].weight: must be a number'), p.join('\n'));
  assert.ok(p.includes("tunnelSource: '1.2.3' is not an IPv4 address"), p.join('\n'));
  // the IPv6 tunnel source: IPv6 text; an IPv4 address is the core's to refuse
  for (const [bad, why] of [['2001:db8::zz', "tunnelSource6: '2001:db8::zz' is not an IPv4 or IPv6 address"],
    ['198.18.0.1', 'tunnelSource6: must be an IPv6 unicast address']]) {
    const n3 = new NativeConfigBuilder(limits).build({ ...cfg, tunnelSource6: bad }) as any;
    n3.tunnelSource6 = bad;
    assert.ok(nativeAddon().checkCoreConfig(n3, limits).includes(why), bad);
  }
  assert.equal((new NativeConfigBuilder(limits).build({ ...cfg, tunnelSource6: '2001:db8::1' }) as any).tunnelSource6, '2001:db8::1');
  const n2 = new NativeConfigBuilder(limits).build(cfg) as any;
  n2.services[1].mhTableSize = 4096;
  const p2 = nativeAddon().checkCoreConfig(n2, limits);
  assert.ok(p2.some((s) => s.startsWith('services[1].mhTableSize: must be one of the kernel\'s primes')), p2.join('\n'));
});
