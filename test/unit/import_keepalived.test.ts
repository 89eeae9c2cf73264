// `fulcrum import-keepalived`: keepalived.conf files as operators write them
// (test/golden/keepalived/*.conf) become Fulcrum configs that the loader accepts, with
// keepalived's semantics kept (its defaults written out, retry → fall = retry + 1 and rise 1,
// checker over real server over virtual server), and every untranslated line reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError, loadConfigFile, validateConfig } from '../../src/control/config_load';
import { HealthMonitor } from '../../src/control/health/monitor';
import { importKeepalived, parseKeepalived, splitCommand, type Note } from '../../src/tools/import_keepalived';

const root = path.resolve(__dirname, '../../..');
const dir = path.join(root, 'test/golden/keepalived');
const run = (args: string[], cwd = dir) => spawnSync(process.execPath, [path.join(root, 'bin/fulcrum.js'), ...args], { encoding: 'utf8', cwd });
const fulcrum = (args: string[], cwd = dir) => run(['import-keepalived', ...args], cwd);
const imported = (text: string) => importKeepalived('keepalived.conf', text);
const FIXTURES = ['web-nat', 'dr-fwmark', 'groups-fnat', 'ipv6'];

for (const name of FIXTURES) {
  test(`${name}.conf translates to ${name}.expected.yaml, listing what it cannot translate`, () => {
    const r = fulcrum([`${name}.conf`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, fs.readFileSync(path.join(dir, `${name}.expected.yaml`), 'utf8'));
    assert.equal(r.stderr, fs.readFileSync(path.join(dir, `${name}.expected-notes.txt`), 'utf8'));
  });
}

test('the output starts nothing until its placeholder dataplane is replaced: check and the loader refuse it for that alone', () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'import-')), 'fulcrum.yaml');
  assert.equal(fulcrum(['web-nat.conf', '-o', out]).status, 0);
  const text = fs.readFileSync(out, 'utf8');
  assert.match(text, /# PLACEHOLDER: keepalived\.conf does not say which NICs/);
  const problem = "dataplane.placeholder: this dataplane section is a placeholder (keepalived.conf does not say which NICs, addresses and CPUs the director uses); " +
    "replace it with the director's ports, their addresses and routes and the worker lcores (examples/bare-metal.yaml shows them), then delete the placeholder line";
  assert.throws(() => loadConfigFile(out), (e: unknown) => e instanceof ConfigError && assert.deepEqual(e.problems, [problem]) === undefined);
  const check = run(['check', '--config', out]);
  assert.deepEqual([check.status, check.stdout, check.stderr], [1, '', `${out}: ${problem}\n`]);

  // The operator puts the director's ports in and deletes the line: the rest was valid all along.
  fs.writeFileSync(out, text.replace(/^ {2}placeholder: .*\n/m, '').replace(/net_null0/, '0000:03:00.0').replace(/net_null1/, '0000:03:00.1'));
  const fixed = run(['check', '--config', out]);
  assert.deepEqual([fixed.status, fixed.stderr], [0, '']);
  assert.match(fixed.stdout, /: ok \(2 services, 4 real servers\)\n$/);
});

test('keepalived\'s check defaults are written out: delay_loop 60, connect_timeout 5, retry 1, warmup delay_loop', () => {
  const { config } = imported('virtual_server 10.0.0.1 80 {\n real_server 192.168.1.1 80 {\n  TCP_CHECK {\n  }\n }\n}\n');
  assert.deepEqual(config.services![0].healthChecks, [{ type: 'tcp', interval: 60, timeout: 5, fall: 2, rise: 1, delayBeforeRetry: 1, warmup: 60 }]);
  assert.equal(config.services![0].realServers![0].method, 'nat', 'NAT when lb_kind is not given');
});

test('retry N means N more failures after the first: fall N+1, and one success brings a server up', () => {
  const { config } = imported(`virtual_server 10.0.0.1 80 {
    retry 2
    real_server 192.168.1.1 80 {
      HTTP_GET { url { path / } }
    }
    real_server 192.168.1.2 80 {
      retry 5
      HTTP_GET {
        nb_get_retry 7
      }
      DNS_CHECK {
      }
      MISC_CHECK {
        misc_path /bin/true
      }
    }
  }`);
  const [a, b] = config.services![0].realServers!;
  assert.deepEqual(a.healthChecks!.map((c) => [c.fall, c.rise]), [[3, 1]], 'the virtual server\'s retry');
  assert.deepEqual(b.healthChecks!.map((c) => [c.type, c.fall]), [['http', 8], ['dns', 6], ['command', 6]], 'the checker\'s over the real server\'s');
});

test('checker settings beat the real server\'s, which beat the virtual server\'s', () => {
  const { config } = imported(`virtual_server 10.0.0.1 80 {
    delay_loop 20
    connect_timeout 9
    virtualhost vs.example.com
    real_server 192.168.1.1 8080 {
      delay_loop 10
      virtualhost rs.example.com
      HTTP_GET {
        connect_timeout 2
        url {
          path /a
        }
        url {
          path /b
          virtualhost url.example.com
        }
      }
    }
  }`);
  const checks = config.services![0].healthChecks!;
  assert.deepEqual(checks.map((c) => c.type === 'http' ? [c.interval, c.timeout, c.delayBeforeRetry, c.path, c.host] : []),
    [[10, 2, 3, '/a', 'rs.example.com'], [10, 2, 3, '/b', 'url.example.com']]);
});

test('the same checks on every real server go on the service; different ones stay on each', () => {
  const same = imported('virtual_server 10.0.0.1 80 {\n real_server 192.168.1.1 80 {\n TCP_CHECK {\n }\n }\n real_server 192.168.1.2 81 {\n TCP_CHECK {\n }\n }\n}\n').config.services![0];
  assert.equal(same.healthChecks?.length, 1);
  assert.ok(same.realServers!.every((r) => r.healthChecks === undefined));
  const differ = imported('virtual_server 10.0.0.1 80 {\n real_server 192.168.1.1 80 {\n TCP_CHECK {\n connect_port 90\n }\n }\n real_server 192.168.1.2 80 {\n }\n}\n').config.services![0];
  assert.equal(differ.healthChecks, undefined);
  assert.deepEqual(differ.realServers!.map((r) => r.healthChecks?.length), [1, undefined], 'a real server without checkers is always up, as in keepalived');
});

test('virtual servers: by group (ranges and fwmarks expanded), sorry server with the service\'s method, port 0 made persistent', () => {
  const { config, notes } = imported(`virtual_server_group g {
    10.0.0.1-3 80
    fwmark 9
  }
  virtual_server group g {
    lb_kind DR
    sorry_server 192.168.9.9 80
    real_server 192.168.1.1 80 {
    }
  }
  virtual_server 10.0.0.9 0 {
    real_server 192.168.1.1 0 {
    }
  }`);
  assert.deepEqual(config.services!.map((s) => s.fwmark ?? `${s.address}:${s.port}`), ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', 9, '10.0.0.9:0']);
  assert.deepEqual(config.services![0].sorryServer, { address: '192.168.9.9', port: 80, method: 'dr' });
  assert.deepEqual(config.services![4].persistence, { timeout: 360 });
  assert.equal(notes.length, 2);
  assert.match(notes[0], /^keepalived\.conf:3: virtual_server group g, fwmark 9: the iptables\/nft MARK rule/);
  assert.equal(notes[1], 'keepalived.conf:11: a virtual server on port 0 must be persistent: persistence_timeout 360 added, as keepalived does');
});

test('inhibit_on_failure on every real server is the service\'s; on some, a note names them, as Fulcrum sets it per virtual server', () => {
  const vs = (vsLine: string, a: string, b: string) => imported(`virtual_server 10.0.0.1 80 {
    ${vsLine}
    real_server 192.168.1.1 80 {
      ${a}
    }
    real_server 192.168.1.2 80 {
      ${b}
    }
  }`);
  const every = vs('', 'inhibit_on_failure', 'inhibit_on_failure yes');
  assert.deepEqual([every.config.services![0].inhibitOnFailure, every.notes], [true, []]);

  // keepalived: a real server's own setting, else its virtual server's.
  const inherited = vs('inhibit_on_failure', '', 'inhibit_on_failure on');
  assert.deepEqual([inherited.config.services![0].inhibitOnFailure, inherited.notes], [true, []]);
  const allOff = vs('inhibit_on_failure', 'inhibit_on_failure off', 'inhibit_on_failure false');
  assert.deepEqual([allOff.config.services![0].inhibitOnFailure, allOff.notes], [undefined, []], 'every server turned it off');

  const some = vs('', 'inhibit_on_failure', '');
  assert.equal(some.config.services![0].inhibitOnFailure, undefined);
  assert.deepEqual(some.notes, ['keepalived.conf:1: inhibit_on_failure applies to real_server 192.168.1.1 80 but not 192.168.1.2 80: ' +
    'Fulcrum applies it per virtual server (inhibitOnFailure), so it is left off and a failed 192.168.1.1 80 is removed, not kept at weight 0']);
  const allButOne = vs('inhibit_on_failure', '', 'inhibit_on_failure no');
  assert.equal(allButOne.config.services![0].inhibitOnFailure, true);
  assert.deepEqual(allButOne.notes, ['keepalived.conf:1: inhibit_on_failure applies to real_server 192.168.1.1 80 but not 192.168.1.2 80: ' +
    "Fulcrum applies it per virtual server (inhibitOnFailure), so the virtual server's is kept and a failed 192.168.1.2 80 is kept at weight 0 too, not removed"]);

  const bad = vs('', 'inhibit_on_failure maybe', 'inhibit_on_failure');
  assert.equal(bad.notes[1], 'keepalived.conf:4: inhibit_on_failure maybe: not true or false (on/off, yes/no), ignored', 'as keepalived, an unknown value sets nothing');
  assert.match(bad.notes[0], /^keepalived\.conf:1: inhibit_on_failure applies to real_server 192\.168\.1\.2 80 but not 192\.168\.1\.1 80:/);
});

test('a virtual_server_group keeps one set of checks: the director probes each real server once for all its VIPs', (t) => {
  const { config } = imported(`virtual_server_group g {
    10.0.0.1-3 80
    fwmark 9
  }
  virtual_server group g {
    lb_kind DR
    delay_loop 10
    real_server 192.168.1.1 80 {
      TCP_CHECK {
      }
    }
    real_server 192.168.1.2 80 {
      HTTP_GET {
        url { path /a }
        url { path /b }
      }
    }
  }`);
  const services = config.services!;
  assert.equal(services.length, 4);
  for (const s of services.slice(1)) assert.deepEqual(s.realServers, services[0].realServers);
  const m = new HealthMonitor({ onChange: () => {}, checkThreads: 0 });
  t.after(() => m.stop());
  m.update(config);
  assert.equal(m.status().length, 8, 'each service lists its two real servers');
  assert.equal(m.scheduling().waiting, 3, 'one TCP check and two HTTP checks in all, not four times over');
});

test('fwmark virtual servers are noted: the iptables/nft MARK rule that fed them does nothing here, a match rule does', () => {
  const { config, notes, yaml } = imported(`virtual_server fwmark 7 {
    protocol UDP
    real_server 192.168.1.1 53 {
    }
  }
  virtual_server_group g {
    10.0.0.1 80
    fwmark 9
  }
  virtual_server group g {
    real_server 192.168.1.2 80 {
    }
  }`);
  const example = (proto: string, mark: number) => `matchRules: [{ prefix: <VIP>/32, protocol: ${proto}, ports: "<port or low-high>", mark: ${mark} }]`;
  const says = ": the iptables/nft MARK rule that fed it has no effect on a Fulcrum director (DPDK owns its NICs, so the kernel's marks never reach the dataplane); " +
    'write what the rule matched as match rules instead, e.g. ';
  assert.deepEqual(notes, [
    `keepalived.conf:1: virtual_server fwmark 7${says}${example('udp', 7)}`,
    `keepalived.conf:8: virtual_server group g, fwmark 9${says}${example('tcp', 9)}`,
  ]);
  assert.deepEqual(config.services!.map((s) => s.fwmark ?? s.address), [7, '10.0.0.1', 9]);
  assert.equal(config.matchRules, undefined);
  // The output carries the same examples, commented; filled in, they are match rules the loader takes.
  assert.match(yaml, /\n# matchRules:\n# {3}- \{ prefix: <VIP>\/32, protocol: udp, ports: "<port or low-high>", mark: 7 \} {2}# virtual_server fwmark 7\n/);
  const filled = yaml.replace(/^ {2}placeholder: .*\n/m, '').replace(/^# (matchRules:|  - .*)$/gm, '$1')
    .replaceAll('<VIP>', '192.0.2.10').replaceAll('<port or low-high>', '80');
  assert.deepEqual(validateConfig(YAML.parse(filled)).matchRules!.map((r) => [r.prefix, r.protocol, r.ports, r.mark]),
    [['192.0.2.10/32', 'udp', '80', 7], ['192.0.2.10/32', 'tcp', '80', 9]]);
});

test('MISC_CHECK runs misc_path as argv (quotes kept together), with misc_dynamic weights', () => {
  assert.deepEqual(splitCommand(`/usr/bin/check "a b" 'c d' e`), ['/usr/bin/check', 'a b', 'c d', 'e']);
  const { config } = imported('virtual_server 10.0.0.1 80 {\n real_server 192.168.1.1 80 {\n MISC_CHECK {\n misc_path "/bin/check.sh --port 80"\n misc_dynamic\n }\n }\n}\n');
  const c = config.services![0].healthChecks![0];
  assert.ok(c.type === 'command');
  assert.deepEqual([c.command, c.dynamic, c.timeout, c.fall], [['/bin/check.sh', '--port', '80'], true, 60, 1]);
});

test('FullNAT takes its local addresses from the local_address_group the service names', () => {
  const { config } = imported(`local_address_group la {
    192.168.100.1-2 dpdk0
  }
  local_address_group unused {
    192.168.100.9 dpdk1
  }
  virtual_server 10.0.0.1 80 {
    lb_kind FNAT
    laddr_group_name la
    real_server 192.168.1.1 80 {
    }
  }`);
  assert.deepEqual(config.localAddresses, ['192.168.100.1', '192.168.100.2']);
  assert.equal(config.services![0].realServers![0].method, 'fullnat');
});

test('a translation the loader refuses is not written: FullNAT without local addresses', () => {
  const conf = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'import-')), 'keepalived.conf');
  fs.writeFileSync(conf, 'virtual_server 10.0.0.1 80 {\n lb_kind FNAT\n real_server 192.168.1.1 80 {\n }\n}\n');
  const r = fulcrum([conf]);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /the translated config is not valid:\n {2}services\[0\]\.realServers\[0\]\.method: fullnat needs localAddresses/);
});

test('keepalived\'s syntax: # and ! comments, quoted words, blocks opened on the same line, unmatched braces noted', () => {
  const notes: Note[] = [];
  const stmts = parseKeepalived('a "b c" d # comment\n! comment\ne {f g}\n}\nh {\n', 'k.conf', notes);
  assert.deepEqual(stmts.map((s) => [s.words, s.line, s.block?.map((b) => b.words)]),
    [[['a', 'b c', 'd'], 1, undefined], [['e'], 3, [['f', 'g']]], [['h'], 5, []]]);
  assert.deepEqual(notes.map((n) => `${n.line}: ${n.message}`), ['4: an unmatched }, ignored', '6: the file ends inside a block']);
});

test('what is not LVS or not supported is listed by file and line, and the rest still translates', () => {
  const { config, notes } = imported(`global_defs {
    lvs_sync_daemon eth0 VI_1
  }
  vrrp_instance VI_1 {
  }
  virtual_server 10.0.0.1 80 {
    persistence_engine sip
    real_server 192.168.1.1 80 {
      SMTP_CHECK {
      }
      notify_down /bin/alert
    }
  }`);
  assert.equal(config.services!.length, 1);
  assert.deepEqual(notes, [
    'keepalived.conf:2: lvs_sync_daemon not supported (Fulcrum has no connection sync daemon), skipped',
    "keepalived.conf:4: vrrp_instance VI_1 not translated (not part of keepalived's LVS configuration), skipped",
    'keepalived.conf:7: persistence_engine not supported, ignored',
    'keepalived.conf:9: SMTP_CHECK not supported, skipped',
    'keepalived.conf:11: notify_down not supported, ignored',
  ]);
});

test('usage errors exit 2; an unreadable file names itself', () => {
  assert.equal(fulcrum([]).status, 2);
  assert.equal(fulcrum(['a.conf', 'b.conf']).status, 2);
  assert.match(fulcrum(['--frob', 'a.conf']).stderr, /unknown option '--frob'/);
  const r = fulcrum(['/nonexistent/keepalived.conf']);
  assert.deepEqual([r.status, r.stderr], [2, 'fulcrum import-keepalived: cannot read /nonexistent/keepalived.conf: ENOENT\n']);
  assert.equal(fulcrum(['--help']).status, 0);
});
