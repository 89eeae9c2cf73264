// The scenarios the golden fixtures beside this file were captured from: each runs the real
// ipvsadm 1.31 (under the shared oracle's fake kernel table) from an empty table, step by step.
// scripts/capture-ipvsadm-golden runs them and writes one <name>.json per scenario; the tests
// read only those files. A step is `run(...argv)`, optionally with stdin (for -R) or a forced
// kernel errno; `stats(service, server, ...values)` sets counters between steps (the oracle's
// setstats: conns inpkts outpkts inbytes outbytes [cps inpps outpps inbps outbps [active
// inactive persist]]), server null meaning the service itself.
'use strict';

const run = (...argv) => ({ run: argv });
const input = (stdin, ...argv) => ({ run: argv, stdin });
const errno = (n, ...argv) => ({ run: argv, errno: n });
const stats = (service, server, ...values) => ({ setstats: [service, server, ...values] });

const HOSTS = `127.0.0.1 localhost
10.0.0.1 vip.example.com vip
10.0.0.2 a-very-long-virtual-service-name.example.com
192.168.1.10 web1.example.com web1
192.168.1.11 web2.example.com
192.168.1.12 a-real-server-with-a-long-name.example.com
172.16.5.20 client20.example.net
`;

const CONNS = `Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP  AC100514 D431 0A000001 0050 C0A8010A 0050 ESTABLISHED     897
TCP  AC100515 9C41 0A000001 0050 C0A8010B 0050 FIN_WAIT         65
TCP  AC100516 9C42 0A000001 0050 C0A8010A 0050 TIME_WAIT       118
TCP  AC100517 9C43 0A000001 0050 C0A8010A 0050 SYN_RECV         59
UDP  AC100518 9C44 0A000001 0035 C0A8010A 0035 UDP             299
TCP  AC100500 0000 0A000001 0050 C0A8010A 0050 NONE            283
IP   AC100500 0000 00000001 0000 C0A8010A 0000 NONE           7200
TCP  AC100519 9C45 0A000001 01BB C0A8010C 01BB CLOSE_WAIT        0
TCP  AC10051A 9C46 0A000001 01BB C0A8010C 01BB LAST_ACK          9 sip 3132333435
SCTP AC10051B 9C47 0A000001 1628 C0A8010C 1628 ESTABLISHED  123456
TCP  FFFFFFFF FFFF FFFFFFFE FFFE 01010101 0001 ESTABLISHED 100000000
`;

const web = [
  run('-A', '-t', '10.0.0.1:80', '-s', 'wrr'),
  run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.10:80', '-m', '-w', '3'),
  run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.11:80', '-m', '-w', '1'),
];

module.exports = [
  {
    name: 'usage-and-version',
    about: '-h and -v in their forms; a first option that is not a command; no command at all',
    steps: [
      run('-h'), run('--help'), run('-v'), run('--version'), run('-h', 'foo'), run('-v', '-L'),
      run('-nL'), run('-t', '1.2.3.4:80', '-L'), run('foo'), run('--bogus'), run('-q'), run('--tun-info', '-L'),
      run('--start-daemon'), run('-t'), run('--', '-L'), run('-L='), run('--list='), run('--add-service=x'),
    ],
  },
  {
    name: 'popt-errors',
    about: "popt's own errors (exit 255: unknown option, missing or unwanted argument) and the options ipvsadm knows but does not take after the command",
    steps: [
      run('-L', '--bogus'), run('-L', '-q'), run('-L', '-nq'), run('-Lnq'), run('-Lx'), run('-L', '--stats=3'),
      run('-L', '--bogus=3'), run('-L', '-n=3'), run('-Ln=3'), run('-Ln=='), run('-A', '-t'), run('-A', '--tcp-service'),
      run('-A', '-t', '1.1.1.1:80', '-s'), run('-A', '--tcp'), run('-A', '--tcp-serv', '1.2.3.4:82'),
      run('-L', '-L'), run('-A', '-L'), run('-LL'), run('-Ah'), run('-L', '-h'), run('-L', '-v'), run('-L', '--help'),
      run('-Ln', '--version'), run('-L', '--set'), run('-A', '--add-service'), run('-L', '--start-daemon', 'master'),
      run('-L', '--stop-daemon=backup'), run('--set', '-1', '2', '3'), run('-A', '-t', '1.1.1.1:17', '-p', '-5'),
    ],
  },
  {
    name: 'argument-errors',
    about: 'stray arguments, repeated options, bad values, and the order in which ipvsadm checks them',
    steps: [
      run('-L', 'foo'), run('foo', '-L'), run('-L', '-'), run('-L', '--', '-n'), run('-L', '--', '--stats'), run('-C', 'foo'),
      run('-L', '-scheduler', 'rr'), run('-L', '-stats'), run('-A', '-tcp-service', '1.2.3.4:81'), run('-L', '-tun-info'),
      run('-A', '-t', '1.1.1.1:80', '-t', '1.1.1.1:81'), run('-A', '-f', '8', '-t', '1.1.1.1:80'), run('-A', '-t', '1.1.1.1:80', '-u', '1.1.1.1:80'),
      run('-A', '-t', '1.1.1.1:99', '-s', 'sh', '-b', 'sh-port', '-s', 'rr'), run('-A', '-t', '1.1.1.1:15', '-p', '--persistent', '5'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.14', '-m', '-g'), run('-L', '--exact', '-X'), run('-L', '--nosort', '--nosort'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-type', 'gue', '--tun-port', '6080', '--tun-nocsum', '--tun-nocsum'),
      run('-A', '-t', '1.2.3.4:99999'), run('-A', '-t', '1.2.3.4:'), run('-A', '-t', '80'), run('-A', '-t', '[::1]'), run('-A', '-t', ''),
      run('-A', '-t', '1.2.3.4:bogus'), run('-A', '-t', 'nosuchhost.invalid:80'), run('-A', '-t', '1.2.3.256:80'),
      run('-A', '--sctp-service', '1.2.3.5:http'), run('-A', '-t', '-s'), run('-A', '--tcp-service', '-s'), run('-C', '--tcp-service='),
      run('-A', '-f', '0'), run('-A', '-f', 'abc'), run('-A', '-f', '4294967296'), run('-A', '-f', '-1'), run('-A', '-f', '0x10'),
      run('-A', '-6', '-f', '2'), run('-L', '-6'), run('-A', '-t', '1.1.1.1:80', '-6'),
      run('-A', '-t', '1.1.1.1:6', '-p', '0'), run('-A', '-t', '1.1.1.1:8', '-p', '2678401'), run('-A', '-t', '1.1.1.1:9', '-p', 'abc'),
      run('-A', '-t', '1.1.1.1:19', '--persistent='), run('-A', '-t', '1.1.1.1:88', '-p='), run('-A', '-t', '1.1.1.1:83', '-p', ''),
      run('-A', '-u', '1.1.1.1:93', '-po'), run('-A', '-u', '1.1.1.1:94', '-ps', 'rr'),
      run('-A', '-t', '1.1.1.1:11', '-p', '60', '-M', 'abc'),
      run('-A', '-t', '1.1.1.1:5', '-b', 'sh-port'), run('-A', '-t', '1.1.1.1:9', '-b', 'bogus'), run('-A', '-t', '1.1.1.1:12', '-s', 'rr', '-b', 'flag-1,bogus'),
      run('-A', '-t', '1.1.1.1:16', '-s', 'mh', '-b', 'mh-port,sh-port'), run('-A', '-t', '1.1.1.1:17', '-s', 'sh', '-b', 'mh-port'),
      run('-A', '-t', '1.1.1.1:5', '-b', 'bogus,sh-port'), run('-A', '-t', '1.1.1.1:6', '-s', 'SH', '-b', 'sh-port'),
      run('-A', '-t', '1.1.1.1', '-b', 'sh-port'), run('-A', '-t', '1.1.1.1', '-b', 'bogus'), run('-A', '-t', '1.1.1.1:80', '-b', 'bogus', 'extra'),
      run('-L', '-b', 'bogus'), run('--set', '1', '2', '3', '-b', 'bogus'), run('--set', 'a', 'b', 'c', '-b', 'bogus'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.7', '-w', '2147483648'), run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.8', '-w', '-1'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.9', '-w', 'abc'), run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.12', '-x', 'abc'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.13', '-y', '-1'), run('-a', '-t', '10.0.0.1:80', '-r', '80'),
      run('-a', '-t', '10.0.0.1:80', '-r', '[::1]:80', '-m'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-type', 'bogus'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-port', '0'), run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-port', '70000'),
    ],
  },
  {
    name: 'legality-table',
    about: "the command × option table: required options, illegal ones (the first in ipvsadm's option order), the list command's one-of group and its other conflicts, and the tunnel type table",
    steps: [
      run('-A'), run('-A', '-w', '5'), run('-A', '-t', '1.2.3.4:80', '-w', '3'), run('-A', '-t', '1.2.3.4:80', '-g'), run('-A', '-t', '1.1.1.1:80', '-b', 'bogus', '-w', '5'),
      run('-E', '-t', '1.2.3.4:80', '-r', '1.1.1.1'), run('-D'), run('-D', '-t', '10.0.0.1:80', '-s', 'rr'), run('-C', '-n'), run('-R', '-n'),
      run('-S', '-c'), run('-Z', '-n'), run('-a', '-t', '10.0.0.1:80'), run('-a', '-r', '1.1.1.1'), run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.15', '-s', 'rr'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-b', 'flag-1'), run('-d', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-w', '3'),
      run('-e', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-p'), run('--set', '1', '2', '3', '-n'), run('-L', '-b', 'flag-1'), run('-L', '--pe', 'sip'),
      run('-L', '-s', 'rr'), run('-L', '-w', '1'), run('-L', '-c', '-t', '10.0.0.1:80'), run('-L', '-t', '10.0.0.1:80', '-c'),
      run('-L', '--timeout', '--daemon'), run('-L', '-c', '--timeout'), run('-L', '-c', '--stats'), run('-L', '--timeout', '--persistent-conn'),
      run('-L', '--daemon', '--stats'), run('-L', '-c', '--rate'), run('-L', '-c', '--thresholds'), run('-L', '-c', '--tun-info', '--stats'),
      run('--start-daemon', 'master', '-n'), run('--stop-daemon', 'backup', '--mcast-interface', 'x'), run('-S', '--nosort'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '--tun-type', 'gue'), run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-m', '--tun-csum'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-type', 'gue'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-type', 'gue', '--tun-port', '6080', '--tun-csum', '--tun-remcsum'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-type', 'gue', '--tun-port', '6080', '--tun-nocsum', '--tun-csum'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-type', 'gre', '--tun-port', '5'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-type', 'gre', '--tun-remcsum'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-type', 'ipip', '--tun-csum'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-i', '--tun-nocsum'),
      run('-A', '-t', '1.2.3.4'), run('-A', '-t', '1.1.1.1', '-o'), run('-A', '-t', '1.1.1.1:21', '-o'), run('-A', '--sctp-service', '1.1.1.1:24', '-o'),
      run('-A', '-t', '::1'),
    ],
  },
  {
    name: 'daemon-options',
    about: "the sync daemon's options and their checks; no daemon runs, so --daemon lists nothing and --stop-daemon fails",
    steps: [
      run('-L', '--daemon'), run('--stop-daemon', 'master'), run('--stop-daemon', 'backup', '--syncid', '7'), run('--start-daemon', 'foo'), run('--stop-daemon', 'foo'),
      run('--start-daemon', 'master', '--syncid', '256'), run('--start-daemon', 'master', '--syncid', 'abc'),
      run('--start-daemon', 'master', '--mcast-group', '1.2.3.4'), run('--start-daemon', 'master', '--mcast-group', 'bogus'),
      run('--start-daemon', 'master', '--mcast-group', '2001:db8::1'), run('--start-daemon', 'master', '--mcast-group', '239.1.1.1', '--mcast-port', '0'),
      run('--start-daemon', 'master', '--mcast-port', '70000'), run('--start-daemon', 'master', '--mcast-ttl', '0'), run('--start-daemon', 'master', '--mcast-ttl', '256'),
      run('--start-daemon', 'master', '--sync-maxlen', '0'), run('--start-daemon', 'master', '--sync-maxlen', '65508'),
      run('-L', '--daemon', '--tun-info'), run('-L', '--daemon', '-n'),
    ],
  },
  {
    name: 'add-edit-delete',
    about: 'services and real servers added, edited (-E and -e replace every attribute) and deleted, with the kernel errors for missing and existing ones',
    steps: [
      run('-A', '-t', '10.0.0.1:80', '-s', 'rr', '-p', '100', '-M', '255.255.255.0'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1:8080', '-m', '-w', '5', '-x', '10', '-y', '2'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.2', '-w', '3'),
      run('-Ln'), run('-Ln', '--thresholds'),
      run('-A', '-t', '10.0.0.1:80'), run('-A', '-t', '10.0.0.1:http', '-s', 'bogus'), run('-A', '-t', '10.0.0.9:80', '-s', 'bogus'),
      run('-E', '-t', '10.0.0.1:80'), run('-Ln'),
      run('-e', '-t', '10.0.0.1:80', '-r', '1.1.1.1:8080'), run('-e', '-t', '10.0.0.1:80', '-r', '1.1.1.1:8080', '-m'), run('-Ln', '--thresholds'),
      run('-e', '-t', '10.0.0.1:80', '-r', '1.1.1.9'), run('-e', '-t', '10.0.0.9:80', '-r', '1.1.1.1'), run('-E', '-t', '10.0.0.9:80'),
      run('-E', '-t', '10.0.0.1:80', '-s', 'bogus'), run('-E', '-t', '10.0.0.9:80', '-s', 'bogus'),
      run('-D', '-t', '10.0.0.9:80'), run('-d', '-t', '10.0.0.9:80', '-r', '1.1.1.1'), run('-d', '-t', '10.0.0.1:80', '-r', '1.1.1.9'),
      run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.2'), run('-a', '-t', '10.0.0.9:80', '-r', '1.1.1.2'),
      run('-d', '-t', '10.0.0.1:80', '-r', '1.1.1.1:8080'), run('-d', '-t', '10.0.0.1:80', '-r', '1.1.1.2:9999'), run('-Ln'),
      run('-E', '-t', '10.0.0.1:80', '-s', 'sh', '-b', 'sh-port', '-p'), run('-Ln'),
      run('-D', '-t', '10.0.0.1:80'), run('-Ln'),
    ],
  },
  {
    name: 'real-server-ports-and-weights',
    about: '-g and -i force the service port on the real server, -m keeps its own; weights up to INT_MAX (Debian); thresholds; fwmark real servers keep their ports',
    steps: [
      run('-A', '-t', '10.0.0.1:80'), run('-A', '-f', '5'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.1'), run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.2:8080', '-m'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.3:8080'), run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.4:8080', '-i'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.5', '-w', '70000'), run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.6', '-w', '2147483647'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.10', '-w', '0', '-x', '100', '-y', '10'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.11', '-y', '10'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.16:0', '-m'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.1'),
      run('-a', '-f', '5', '-r', '192.168.2.1:8080'), run('-a', '-f', '5', '-r', '192.168.2.2', '-m'),
      run('-Ln'), run('-Sn'), run('-Ln', '--thresholds'), run('-Ln', '--persistent-conn'), run('-Ln', '--tun-info'), run('-L'), run('-S'),
      run('-e', '-t', '10.0.0.1:80', '-r', '192.168.1.10', '-x', '5', '-y', '50'), run('-e', '-t', '10.0.0.1:80', '-r', '192.168.1.10', '-w', '7', '-x', '50', '-y', '5'),
      run('-Ln', '--thresholds'),
    ],
  },
  {
    name: 'service-forms',
    about: 'address forms (inet_aton short and hex forms, host names, a port by name per protocol), UDP and SCTP services, fwmark services, one-packet scheduling (IPv6 services: test/golden/ipvsadm-kernel/, from the real kernel: the oracle has IPv4 only)',
    steps: [
      run('-A', '-t', '10.1:80'), run('-A', '-t', '0x0a000002:80'), run('-A', '-t', 'localhost:80'), run('-A', '-t', '1.2.3.4:http'),
      run('-A', '-u', '1.2.3.4:domain'), run('-A', '--sctp-service', '1.2.3.4:80'), run('-A', '--sctp-service', '1.2.3.5:amqp'),
      run('-A', '-t', '1.2.3.4:+81'), run('-A', '-t', '1.2.3.4: 82'), run('-A', '-t', '1.2.3.4 foo:83'), run('-A', '-t', '1.2.3.4:-0', '-p'),
      run('-A', '-t', '1.2.3.4:www'), run('-A', '-t', '1.2.3.4:amqp'), run('-A', '-f', '4294967295'), run('-A', '-f', ' 7'),
      run('-A', '-u', '1.1.1.1:22', '-o'), run('-A', '-f', '23', '-o'),
      run('-Ln'), run('-L'), run('-Sn'), run('-S'),
      run('-Ln', '--sctp-service', '1.2.3.5:5672'), run('-L', '--sctp-service', '1.2.3.5:5672'), run('-L', '-u', '1.2.3.4:53'),
    ],
  },
  {
    name: 'option-forms',
    about: "popt's ways of giving an option its argument: -tARG, -t=ARG, --long=ARG, -p's optional value (taken unless it starts with '-'), long options",
    steps: [
      run('-A', '-t=1.1.1.1:85'), run('-A', '-t1.1.1.1:86', '-s=rr'), run('-A', '-t', '1.1.1.1:87', '-p=5'), run('-A', '-t', '1.1.1.1:89', '-s==rr'),
      run('-A', '-t', '1.1.1.1:90', '-p7'), run('-A', '-u', '1.1.1.1:92', '-op'), run('-A', '-t', '1.1.1.1:91', '-op'),
      run('-A', '-u', '1.1.1.1:25', '-o', '-p', '30', '-s', 'sh', '-b', 'sh-port'),
      run('-A', '--tcp-service=1.1.1.1:95', '--scheduler=rr'), run('--add-service', '--udp-service', '1.1.1.1:96', '--persistent', '800'),
      run('-A', '-t', '1.1.1.1:81', '-p', '--'), run('-A', '-t', '1.1.1.1:82', '-p', '--', '5'),
      run('--add-server', '--tcp-service', '1.1.1.1:95', '--real-server', '192.168.1.1:8080', '--masquerading', '--weight=4', '--u-threshold', '9', '--l-threshold=3'),
      run('--edit-server', '--tcp-service=1.1.1.1:95', '--real-server=192.168.1.1:8080', '--ipip'), run('--list', '--numeric', '--thresholds'),
      run('--edit-service', '--tcp-service', '1.1.1.1:95', '--scheduler', 'sh', '--sched-flags', 'sh-port', '--persistent', '--netmask', '255.255.255.0'),
      run('--delete-server', '--tcp-service', '1.1.1.1:95', '--real-server', '192.168.1.1:80'), run('--save', '--numeric'),
      run('--delete-service', '--udp-service=1.1.1.1:96'), run('--zero'), run('--clear'), run('--list', '--numeric'),
    ],
  },
  {
    name: 'persistence',
    about: 'persistence timeouts in their forms, netmasks (shown and saved only when persistent)',
    steps: [
      run('-A', '-t', '1.1.1.1:1', '-p'), run('-A', '-t', '1.1.1.1:2', '-p', '600'), run('-A', '-t', '1.1.1.1:3', '-p600'),
      run('-A', '-t', '1.1.1.1:4', '--persistent=700'), run('-A', '-t', '1.1.1.1:5', '-p', '-M', '255.255.0.0'), run('-A', '-t', '1.1.1.1:7', '-p', '2678400'),
      run('-A', '-t', '1.1.1.1:10', '-M', '255.255.255.0'), run('-A', '-t', '1.1.1.1:13', '-p', '60', '-M', '255.255.255.128'),
      run('-A', '-t', '1.1.1.1:14', '-p', '60', '-M', '255.0.0.0'), run('-A', '-p', '5', '-t', '1.1.1.1:16'), run('-A', '-t', '1.1.1.1:18', '--persistent', '800'),
      run('-A', '-t', '1.1.1.1:0', '-p', '30', '-s', 'rr'), run('-A', '-u', '1.1.1.1:53', '-p', '-o'),
      run('-Ln'), run('-Sn'), run('-L', '-n', '-t', '1.1.1.1:0'),
      run('-E', '-t', '1.1.1.1:5', '-p', '90'), run('-E', '-t', '1.1.1.1:13', '-s', 'sh'), run('-E', '-t', '1.1.1.1:0', '-s', 'rr'), run('-Ln'),
    ],
  },
  {
    name: 'scheduler-flags',
    about: "schedulers (unknown ones refused by the kernel), and scheduler flags as each scheduler names them: sh and mh name bits 1 and 2 their own way and bit 3 not at all",
    steps: [
      run('-A', '-t', '1.1.2.1:1', '-s', 'rr'), run('-A', '-t', '1.1.2.1:2', '-s', 'bogus'), run('-A', '-t', '1.1.2.1:3', '-s', 'abcdefghijklmnopqrstuvwxyz'),
      run('-A', '-t', '1.1.2.1:4', '-s', 'sh', '-b', 'sh-port'), run('-A', '-t', '1.1.2.1:6', '-b', 'sh-port', '-s', 'sh'),
      run('-A', '-t', '1.1.2.1:7', '-s', 'mh', '-b', 'mh-fallback,mh-port'), run('-A', '-t', '1.1.2.1:8', '-b', 'flag-1,flag-2,flag-3'),
      run('-A', '-t', '1.1.2.1:10', '-s', 'sh', '-b', 'sh-fallback,sh-port', '-p'), run('-A', '-t', '1.1.2.1:11', '-s', 'sh', '-b', 'flag-1'),
      run('-A', '-t', '1.1.2.1:13', '-b', ''), run('-A', '-t', '1.1.2.1:14', '-b', 'flag-1,,flag-2'), run('-A', '-t', '1.1.2.1:15', '-b', 'flag-1,flag-1'),
      run('-A', '-t', '1.1.2.1:26', '-s', 'RR'), run('-A', '-t', '1.1.2.1:27', '-s', 'twos'), run('-A', '-t', '1.1.2.1:28', '-s', 'sh', '-b', 'flag-3'),
      run('-A', '-t', '1.1.2.1:29', '-s', 'sh', '-b', 'flag-2,flag-3'), run('-A', '-t', '1.1.2.1:30', '-s', 'mh', '-b', 'flag-1,flag-2,flag-3'),
      run('-A', '-t', '1.1.2.1:31', '-s', 'rr', '-b', 'flag-2'), run('-A', '-t', '1.1.2.1:32', '-s', 'lblcr'),
      run('-Ln'), run('-Sn'), run('-Ln', '--stats'),
      run('-E', '-t', '1.1.2.1:4', '-s', 'rr'), run('-E', '-t', '1.1.2.1:1', '-s', 'mh', '-b', 'mh-port'), run('-Ln'),
    ],
  },
  {
    name: 'sort-order',
    about: "ipvsadm's sort: fwmark, protocol, address as a wrapped 32-bit difference (so addresses 2^31 apart compare backwards), port; real servers by address then port; --nosort gives the kernel's order (newest real server first)",
    steps: [
      run('-A', '-t', '10.0.0.1:8080'), run('-A', '-u', '10.0.0.1:53'), run('-A', '-f', '3'), run('-A', '-t', '192.168.1.1:80'),
      run('-A', '-t', '172.16.0.1:80'), run('-A', '-f', '1'), run('-A', '-t', '10.0.0.1:80'), run('-A', '--sctp-service', '10.0.0.1:80'),
      run('-A', '-t', '200.1.1.1:80'), run('-A', '-t', '9.9.9.9:80'),
      run('-a', '-t', '10.0.0.1:80', '-r', '100.1.1.1', '-m'), run('-a', '-t', '10.0.0.1:80', '-r', '10.1.1.1:81', '-m'),
      run('-a', '-t', '10.0.0.1:80', '-r', '200.1.1.1', '-m'), run('-a', '-t', '10.0.0.1:80', '-r', '10.1.1.1:80', '-m'),
      run('-a', '-t', '10.0.0.1:80', '-r', '150.1.1.1', '-m'), run('-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1', '-m'),
      run('-Ln'), run('-Ln', '--nosort'), run('-Ln', '--sort'), run('-Sn'), run('-Sn', '--nosort'), run('-L', '-n', '-t', '10.0.0.1:80', '--nosort'),
      run('-D', '-t', '172.16.0.1:80'), run('-A', '-t', '172.16.0.2:80'), run('-Ln', '--nosort'), run('-Ln'),
    ],
  },
  {
    name: 'stats-and-rates',
    about: 'counters with K/M/G/T scaling at its uneven thresholds, --exact, --rate (real servers print CPS and PPS unscaled), and both (--stats wins)',
    steps: [
      ...web,
      run('-A', '-u', '10.0.0.1:53', '-s', 'rr'), run('-a', '-u', '10.0.0.1:53', '-r', '192.168.1.12', '-m'),
      stats('tcp:10.0.0.1:80', null, 1523, 45210, 40112, 3921456, 58234112, 12, 340, 301, 29004, 431230),
      stats('tcp:10.0.0.1:80', '192.168.1.10:80', 99999999, 100000000, 999999999, 1000000000, 99999999999, 99999999, 100000000, 999999999, 1000000000, 4000000000, 57, 412, 3),
      stats('tcp:10.0.0.1:80', '192.168.1.11:80', 4294967295, 123456789, 1, 100000000000, '123456789012345', 3, 85, 75, 7251, 107808, 19, 137, 0),
      stats('udp:10.0.0.1:53', null, 0, 0, 0, '99999999999999', '100000000000000', 0, 0, 0, 0, 0),
      stats('udp:10.0.0.1:53', '192.168.1.12:53', 7, 8, 9, '18446744073709551615', '12345678901234567', 1, 2, 3, 4, 5, 0, 7, 2),
      run('-Ln', '--stats'), run('-Ln', '--stats', '--exact'), run('-Ln', '--rate'), run('-Ln', '--rate', '--exact'), run('-Ln', '--rate', '--stats'),
      run('-L', '--stats'), run('-L', '-n', '-X', '--stats', '-t', '10.0.0.1:80'), run('-Ln', '--persistent-conn'), run('-Ln', '--thresholds'), run('-Ln'),
      run('-Z', '-t', '10.0.0.9:80'), run('-Z', '-t', '10.0.0.1:80'), run('-Ln', '--stats'), run('-Z'), run('-Ln', '--stats', '--exact'),
    ],
  },
  {
    name: 'connections',
    about: "-L -c from /proc/net/ip_vs_conn: expire as mm:ss (minutes not capped), states, templates, fwmark templates (IP), SCTP, --persistent-conn's extra columns, names without -n",
    hosts: HOSTS,
    conns: CONNS,
    steps: [
      run('-Lnc'), run('-Lc'), run('-L', '-c', '-n', '--persistent-conn'), run('-Lnc', '--nosort'), run('-Lc', '--exact'), run('-lnc', '--tun-info'),
      run('-L', '--connection', '--numeric'), run('-Lcn'),
    ],
  },
  {
    name: 'timeouts',
    about: '--set (0 keeps a value) and -L --timeout',
    steps: [
      run('-L', '--timeout'), run('--set', '1', '2'), run('--set', '1', '2', '3', '4'), run('--set'), run('--set', '2678401', '1', '1'),
      run('--set', '0', '0', '0'), run('-L', '--timeout'), run('--set', '10', '20', '30'), run('-L', '--timeout'), run('--set', '0', '5', '0'),
      run('-L', '--timeout', '-n'), run('1', '--set', '2', '3'), run('--set', '1', '--', '40', '50'), run('-L', '--timeout'), run('-L', '--timeout', 'extra'),
    ],
  },
  {
    name: 'names',
    about: 'without -n: host names from the hosts file (service names cut to 33 columns, real servers to 28), port names per protocol; names as arguments',
    hosts: HOSTS,
    steps: [
      run('-A', '-t', 'vip.example.com:http', '-s', 'wrr'), run('-a', '-t', 'vip:www', '-r', 'web1:http', '-m', '-w', '3'),
      run('-a', '-t', '10.0.0.1:80', '-r', 'web2.example.com', '-m'), run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.12:http-alt', '-m'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.13:8080', '-m'), run('-a', '-t', '10.0.0.1:80', '-r', 'nosuchhost:80', '-m'),
      run('-A', '-t', 'a-very-long-virtual-service-name.example.com:443', '-s', 'rr'),
      run('-a', '-t', '10.0.0.2:https', '-r', 'a-real-server-with-a-long-name.example.com', '-m'),
      run('-A', '-u', 'vip:domain'), run('-a', '-u', '10.0.0.1:53', '-r', 'web1', '-m'), run('-A', '-u', '10.0.0.1:mdns'),
      run('-A', '-f', '9'), run('-a', '-f', '9', '-r', 'web1.example.com:https'), run('-A', '-t', '10.0.0.1:12345'),
      run('-L'), run('-Ln'), run('-S'), run('-Sn'), run('-L', '--stats'), run('-L', '--rate'), run('-L', '--thresholds'),
      run('-L', '--persistent-conn'), run('-L', '-t', 'vip:http'), run('-L', '-t', 'vip:80', '-n'), run(),
    ],
  },
  {
    name: 'bundled-options',
    about: 'short options bundled after the command (-Ln, -Lnc, -Sn, -ln, -Zt…), and an option argument inside the bundle',
    conns: CONNS,
    steps: [
      ...web,
      run('-Ln'), run('-ln'), run('-Sn'), run('-Lnc'), run('-Ln', '--stats'), run('-Lnt', '10.0.0.1:80'), run('-Lt10.0.0.1:80', '-n'),
      run('-Zt', '10.0.0.1:80'), run('-Dt10.0.0.9:80'), run('-at', '10.0.0.1:80', '-r192.168.1.12', '-mw', '5'), run('-Ln'),
      run('-et', '10.0.0.1:80', '-r', '192.168.1.12', '-mw7'), run('-Lnx'), run('-Ln'),
    ],
  },
  {
    name: 'save-restore',
    about: '-S and -R round trips; -R reads words per line, drops "ipvsadm", skips blank lines, carries on after a kernel error (the exit status is the last line\'s) and refuses a nested -R',
    steps: [
      run('-A', '-t', '10.0.0.1:80', '-s', 'wrr', '-p', '300', '-M', '255.255.255.0'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.10:8080', '-m', '-w', '3', '-x', '100', '-y', '10'),
      run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.11', '-g', '-w', '2'), run('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.12', '-i'),
      run('-A', '-u', '10.0.0.1:53', '-s', 'sh', '-b', 'sh-fallback,sh-port', '-o'), run('-a', '-u', '10.0.0.1:53', '-r', '192.168.1.10', '-m'),
      run('-A', '-f', '7', '-s', 'mh', '-b', 'mh-port', '-p'), run('-a', '-f', '7', '-r', '192.168.1.10', '-m', '-w', '0'),
      run('-Sn'), run('-C'), run('-Ln'),
      input('-A -t 10.0.0.1:80 -s wrr -p 300 -M 255.255.255.0\n-a -t 10.0.0.1:80 -r 192.168.1.10:8080 -m -w 3\n-a -t 10.0.0.1:80 -r 192.168.1.11:80 -g -w 2\n-a -t 10.0.0.1:80 -r 192.168.1.12:80 -i -w 1 --tun-type ipip\n-A -u 10.0.0.1:53 -s sh -o -b sh-fallback,sh-port\n-a -u 10.0.0.1:53 -r 192.168.1.10:53 -m -w 1\n-A -f 7 -s mh -p 360 -b mh-port\n-a -f 7 -r 192.168.1.10:0 -m -w 0\n', '-R'),
      run('-Sn'), run('-Ln'),
      input('\n   \nipvsadm -A -t 10.0.0.2:80\t-s rr\n\n  ipvsadm   -a -t 10.0.0.2:80 -r 192.168.2.1 -m\r\n-A -t 10.0.0.1:80\n', '-R'),
      input('-A -t 10.0.0.1:80\n-a -t 10.0.0.2:80 -r 192.168.2.2 -m\n', '-R'),
      input('-L -n -t 10.0.0.2:80\n-E -t 10.0.0.2:80 -s wlc\n', '-R'), input('-L -n -t 10.0.0.9:80\n-E -t 10.0.0.2:80 -s sh\n', '-R'),
      input('# a comment\n-A -t 10.0.0.3:80\n', '-R'), input('-R\n', '-R'), input('-A -t 10.0.0.3:80 -w 3\n-A -t 10.0.0.4:80\n', '-R'),
      input('-A -t 10.0.0.5:80\n-C   ', '-R'), input('-A -t 10.0.0.6:80', '-R'), input('', '-R'), input('-D -t 10.0.0.6:80\n-h\n-C\n', '-R'),
      run('-Ln'), run('-R', 'extra'),
      // (Listings inside one -R keep the service count: under the oracle, ipvsadm sizes the whole
      // table listing by the count it read at start, which the kernel's netlink path does not.)
      run('-C'), run('-A', '-t', '10.0.0.9:80'),
      input('-D -t 10.0.0.9:80\n-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 192.168.1.10 -m\n-L -n\n-Z\n--set 100 0 0\n-L --timeout\n-E -t 10.0.0.1:80 -s wlc\n-L -n\n', '-R'),
      run('-Sn'),
    ],
  },
  {
    name: 'flush-and-zero',
    about: '-C empties the table but keeps the timeouts; -Z zeroes every counter or one service\'s',
    steps: [
      ...web, run('-A', '-t', '10.0.0.2:80'), run('-a', '-t', '10.0.0.2:80', '-r', '192.168.1.12', '-m'),
      stats('tcp:10.0.0.1:80', null, 100, 200, 300, 400, 500, 1, 2, 3, 4, 5),
      stats('tcp:10.0.0.1:80', '192.168.1.10:80', 60, 120, 180, 240, 300, 1, 1, 1, 1, 1, 5, 6, 0),
      stats('tcp:10.0.0.2:80', null, 10, 20, 30, 40, 50),
      stats('tcp:10.0.0.2:80', '192.168.1.12:80', 10, 20, 30, 40, 50),
      run('--set', '100', '20', '30'), run('-Ln', '--stats'), run('-Z', '-t', '10.0.0.2:80'), run('-Ln', '--stats'), run('-Ln', '--rate'),
      run('-Z', '-f', '3'), run('-Z'), run('-Ln', '--stats'), run('-C'), run('-Ln'), run('-L', '--timeout'), run('-C'), run('-Sn'), run('-Z'),
    ],
  },
  {
    name: 'kernel-errors',
    about: "libipvs's messages for kernel errors by operation and errno (the oracle forces the errno), exit 255",
    steps: [
      ...web,
      errno(1, '-A', '-t', '10.0.0.2:80'), errno(12, '-A', '-t', '10.0.0.2:80'), errno(22, '-A', '-t', '10.0.0.2:80'),
      errno(92, '-E', '-t', '10.0.0.1:80'), errno(95, '-D', '-t', '10.0.0.1:80'), errno(97, '-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1'),
      errno(90, '-C'), errno(5, '-Z'), errno(34, '-e', '-t', '10.0.0.1:80', '-r', '192.168.1.10', '-m'), errno(2, '-A', '-t', '10.0.0.2:80'),
      errno(17, '-a', '-t', '10.0.0.1:80', '-r', '1.1.1.1'), errno(3, '-d', '-t', '10.0.0.1:80', '-r', '192.168.1.10'),
      errno(2, '-d', '-t', '10.0.0.1:80', '-r', '192.168.1.10'), errno(3, '-Z', '-t', '10.0.0.1:80'), errno(17, '--set', '1', '2', '3'),
      errno(3, '-E', '-t', '10.0.0.1:80'), errno(2, '-E', '-t', '10.0.0.1:80'), errno(14, '-A', '-t', '10.0.0.2:80'),
      run('-L', '-t', '10.0.0.9:80'), run('-L', '-n', '-t', '10.0.0.1:80'), run('-L', '-t', '10.0.0.1:80', '--stats'),
    ],
  },
];
