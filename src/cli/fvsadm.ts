// `fvsadm`: the ipvsadm-compatible command. It will talk to the running director's REST API
// once the control plane exists; until then it knows its usage and version only.

export const VERSION = 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)';

export const USAGE = `${VERSION}
Usage:
  fvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
  fvsadm -D virtual-service
  fvsadm -C
  fvsadm -R
  fvsadm -S [-n]
  fvsadm -a|e virtual-service -r server-address [options]
  fvsadm -d virtual-service -r server-address
  fvsadm -L|l [virtual-service] [options]
  fvsadm -Z [virtual-service]
  fvsadm --set tcp tcpfin udp
  fvsadm -h

fvsadm takes ipvsadm 1.31's arguments. It needs a running Fulcrum director, which this
build does not provide yet: only -h and -v work.
`;

export function main(argv: string[]): number {
  if (argv[0] === '-v' || argv[0] === '--version') {
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  if (argv[0] === '-h' || argv[0] === '--help') {
    process.stdout.write(USAGE);
    return 0;
  }
  process.stderr.write('fvsadm: no Fulcrum director API is available in this build yet\n' +
    "Try `fvsadm -h' or 'fvsadm --help' for more information.\n");
  return 2;
}
