// Where the ipvsadm oracle's fixtures (test/golden/ipvsadm/, socket options under a fake kernel)
// and the real kernel (test/golden/ipvsadm-kernel/, netlink) differ, read once for both tests
// that replay the oracle's fixtures (the fake director's and the live director's).
import type { ServicesDb } from '../../src/ipvsadm/args';

/** The one place the oracle and the kernel differ: the oracle (socket options) keeps the TCP
 * protocol ipvsadm sends for a fwmark service, so ipvsadm names its real servers' ports by it;
 * over netlink (every kernel ipvsadm 1.31 meets, test/golden/ipvsadm-kernel/) the protocol is
 * not sent, the kernel holds 0 and the ports print as numbers. fvsadm follows the kernel: the
 * oracle's fwmark real server port names are read back as their numbers. */
export function fwmarkPortsNumeric(text: string, services: ServicesDb): string {
  let inFwm = false;
  return text.split('\n').map((line) => {
    if (/^(FWM |TCP |UDP |SCTP)/.test(line)) inFwm = line.startsWith('FWM ');
    const name = (m: string, host: string, port: string) => `${host}:${services.portOf(port, 'tcp') ?? port}`;
    if (inFwm && line.startsWith('  -> ')) return line.replace(/^(  -> \S+):([a-z][\w-]*)(?= )/, (m, h, p) => name(m, h, p).padEnd(m.length));
    if (/^-a -f /.test(line)) return line.replace(/( -r \S+):([a-z][\w-]*)(?= )/, name);
    return line;
  }).join('\n');
}
