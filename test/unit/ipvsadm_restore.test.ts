// ipvsadm text as a config (PUT /v1/config with text/plain): read with the parser fvsadm -R
// uses, applied to an empty table with the kernel's checks, refused at the first bad line
// with ipvsadm's own words and the line number; and GET /v1/config?format=ipvsadm written by
// the one -S writer, so saving and restoring go round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SCHEDULERS, type ServiceConfig } from '../../src/control/config_schema';
import { parseServicesFile } from '../../src/ipvsadm/addr';
import type { ParseEnv } from '../../src/ipvsadm/args';
import { formatSave, NUMERIC } from '../../src/ipvsadm/format';
import { KERNEL_SCHEDULERS, serviceFromApi } from '../../src/ipvsadm/model';
import { configFromIpvsadm, IpvsadmTextError, restoreLineIter, restoreLines } from '../../src/ipvsadm/restore';

const env: ParseEnv = { program: 'ipvsadm', lookupHost: async () => undefined, services: parseServicesFile('http 80/tcp\ndomain 53/udp\n') };
const read = (text: string) => configFromIpvsadm(text, env);

async function refusal(text: string): Promise<string> {
  try {
    await read(text);
  } catch (e) {
    if (e instanceof IpvsadmTextError) return e.message;
    throw e;
  }
  assert.fail(`accepted: ${JSON.stringify(text)}`);
}

test('ipvsadm -S text becomes the services it names, in its order, with ipvsadm\'s defaults', async () => {
  const cfg = await read('ipvsadm -A -t 10.0.0.1:http -s rr -p 60 -M 255.255.255.0\n' +
    '-a -t 10.0.0.1:80 -r 192.168.1.10:8080 -m -w 3 -x 10 -y 2\n' +
    '-a -t 10.0.0.1:80 -r 192.168.1.11 -g\n\n' +
    '-A -u 10.0.0.2:domain -o -s sh -b sh-port\n' +
    '-A -f 7 -s mh\n-a -f 7 -r 192.168.1.12:0 -i\n' +
    '--set 0 60 0\n');
  assert.deepEqual(cfg.services, [
    { protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'rr', persistence: { timeout: 60, netmask: '255.255.255.0' }, realServers: [
      { address: '192.168.1.10', port: 8080, method: 'nat', weight: 3, upperThreshold: 10, lowerThreshold: 2 },
      { address: '192.168.1.11', port: 80, method: 'dr', weight: 1 },  // DR keeps the service's port
    ] },
    { protocol: 'udp', address: '10.0.0.2', port: 53, scheduler: 'sh', schedFlags: ['sh-port'], onePacket: true, realServers: [] },
    { fwmark: 7, scheduler: 'mh', realServers: [{ address: '192.168.1.12', port: 0, method: 'tun', weight: 1 }] },
  ]);
  assert.deepEqual(cfg.timeouts, { tcpfin: 60 });
});

test('-E, -e, -D, -d and -C act on the table the lines before them built', async () => {
  const cfg = await read('-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 192.168.1.10 -w 2\n-a -t 10.0.0.1:80 -r 192.168.1.11\n' +
    '-E -t 10.0.0.1:80 -s wrr\n-e -t 10.0.0.1:80 -r 192.168.1.10 -w 5\n-d -t 10.0.0.1:80 -r 192.168.1.11\n' +
    '-A -t 10.0.0.9:80\n-D -t 10.0.0.9:80\n');
  assert.deepEqual(cfg.services, [{ protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wrr', realServers: [
    { address: '192.168.1.10', port: 80, method: 'dr', weight: 5 }] }]);
  assert.deepEqual((await read('-A -t 10.0.0.1:80\n-C\n-A -t 10.0.0.2:80\n')).services.map((s) => s.address), ['10.0.0.2']);
  assert.equal((await read('')).services.length, 0);
});

test('a bad line refuses the text with ipvsadm\'s message and its line number', async () => {
  assert.equal(await refusal('-A -u 10.0.0.55:53 -s rr\n\n-a -u 10.0.0.99:53 -r 172.16.0.41:53 -m\n'), 'line 3: Service not defined');
  assert.equal(await refusal('-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 192.168.1.10 -w many\n'), 'line 2: illegal weight specified');
  assert.equal(await refusal('-A -t 10.0.0.1:80 -w 3\n'), "line 1: Illegal 'weight' option with the 'add-service' command");
  assert.equal(await refusal('-A -t 10.0.0.1:80\n-A -t 10.0.0.1:80 -s rr\n'), 'line 2: Service already exists');
  assert.equal(await refusal('-A -t 10.0.0.1:80 -s fastest\n'), 'line 1: Scheduler or persistence engine not found');
  assert.equal(await refusal('-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 192.168.1.10\n-a -t 10.0.0.1:80 -r 192.168.1.10 -w 2\n'), 'line 3: Destination already exists');
  assert.equal(await refusal('-A -t 10.0.0.1:80\n-e -t 10.0.0.1:80 -r 192.168.1.10\n'), 'line 2: No such destination');
  assert.equal(await refusal('-D -t 10.0.0.1:80\n'), 'line 1: No such service');
  assert.equal(await refusal('-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 192.168.1.10 -x 1 -y 5\n'), 'line 2: Numerical result out of range');
  assert.equal(await refusal('-A -t web.example:80\n'), 'line 1: illegal virtual server address[:port] specified', 'names are not resolved');
  assert.equal(await refusal('-A -t 10.0.0.1:80\n-R\n'), "line 2: Try `ipvsadm -h' or 'ipvsadm --help' for more information.");
  assert.match(await refusal('-A -t 10.0.0.1:80\n-L -n\n'), /^line 2: a listing cannot be restored/);
  assert.equal(await refusal('-A -t 10.0.0.1:80\n-h\n'), 'line 2: -h cannot be restored');
  assert.match(await refusal('-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 192.168.1.10 -i --tun-type gre\n'), /^line 2: Invalid operation.*IPIP only, not gre/);
});

test('restoreLines numbers lines as the input has them, skipping empty ones', () => {
  assert.deepEqual(restoreLines('\n-A -t 10.0.0.1:80\n   \n\t-C\r\n'), [
    { line: 2, words: ['-A', '-t', '10.0.0.1:80'] }, { line: 4, words: ['-C'] }]);
});

test('input in pieces reads as the same lines as in one string, wherever it is cut', () => {
  const inputs = [
    '-A -t 10.0.0.1:80 -s rr\n\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m\r\n  ipvsadm -a -t 10.0.0.1:80 -r 10.0.1.2:80\n',
    '-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 ',  // no final newline, blanks after the last word: that line goes
    '-A -t 10.0.0.1:80\n\t-C',
    '',
  ];
  for (const text of inputs) {
    const whole = restoreLines(text);
    for (let a = 0; a <= text.length; a++) {
      for (let b = a; b <= text.length; b++) {
        const pieces = [text.slice(0, a), text.slice(a, b), text.slice(b)].filter((p) => p);
        assert.deepEqual([...restoreLineIter(pieces)], whole, JSON.stringify(pieces));
      }
    }
  }
});

test('what the text saves (the -S writer) it restores to the same services', async () => {
  const services: ServiceConfig[] = [
    { protocol: 'udp', address: '10.0.0.2', port: 53, scheduler: 'rr', realServers: [{ address: '192.168.1.20', port: 53, method: 'nat', weight: 2 }] },
    { protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wlc', persistence: { timeout: 360 }, realServers: [
      { address: '192.168.1.11', port: 8080, method: 'fullnat', weight: 1 }, { address: '192.168.1.10', port: 80, method: 'dr', weight: 4 }] },
  ];
  const text = formatSave(services.map(serviceFromApi), NUMERIC);
  // sorted as ipvsadm sorts: TCP before UDP, real servers by address
  assert.equal(text, '-A -t 10.0.0.1:80 -s wlc -p 360\n-a -t 10.0.0.1:80 -r 192.168.1.10:80 -g -w 4\n' +
    '-a -t 10.0.0.1:80 -r 192.168.1.11:8080 --fullnat -w 1\n-A -u 10.0.0.2:53 -s rr\n-a -u 10.0.0.2:53 -r 192.168.1.20:53 -m -w 2\n');
  const back = (await read(text)).services;
  assert.equal(formatSave(back.map(serviceFromApi), NUMERIC), text);
});

test('the ipvsadm side knows the same schedulers as the config schema', () => {
  assert.deepEqual([...KERNEL_SCHEDULERS], [...SCHEDULERS]);
});

test('IPv6 -S text restores to IPv6 services (canonical addresses, the prefix as netmask, fwmark family) and saves back the same', async () => {
  const text = '-A -t [2001:DB8::100]:80 -s rr -p 60 -M 64\n-a -t [2001:db8::100]:80 -r [2001:db8::10]:8080 -m -w 3\n' +
    '-a -t [2001:db8::100]:80 -r 198.18.2.10:80 -i -w 1 --tun-type ipip\n-A -f 5 -6 -s sh\n-a -f 5 -6 -r [2001:db8::11]:0 -g -w 1\n';
  const { services } = await read(text);
  assert.deepEqual(services.map((s) => [s.address ?? s.family, s.persistence?.netmask, s.realServers?.map((r) => r.address)]),
    [['2001:db8::100', 64, ['2001:db8::10', '198.18.2.10']], ['ipv6', undefined, ['2001:db8::11']]]);
  assert.equal(formatSave(services.map((s) => serviceFromApi(s)), NUMERIC), text.replace('2001:DB8::100', '2001:db8::100')
    .replace(/(-a -t \[2001:db8::100\]:80 -r \[2001:db8::10\]:8080 -m -w 3\n)(-a .*\n)/, '$2$1'));
  await assert.rejects(read('-A -t [2001:db8::100]:80\n-a -t [2001:db8::100]:80 -r 198.18.2.10 -m\n'),
    (e: IpvsadmTextError) => /line 2: Different address family is allowed only for tunneling servers/.test(e.message));
});
