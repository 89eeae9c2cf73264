// The kernel's refusals as ipvsadm words them: libipvs's ipvs_strerror (messages by operation
// and errno, then by errno alone, else strerror), and which operation a command is. fvsadm
// prints these for the director's answers, and the API answers ipvsadm text with them.
import type { IpvsadmCommand } from './args';

export const ERRNO = { EPERM: 1, ENOENT: 2, ESRCH: 3, EIO: 5, ENOMEM: 12, EFAULT: 14, EEXIST: 17, ENODEV: 19, EINVAL: 22, ERANGE: 34, EMSGSIZE: 90, ENOPROTOOPT: 92, EOPNOTSUPP: 95, EAFNOSUPPORT: 97 } as const;

export type Operation = 'add-service' | 'edit-service' | 'delete-service' | 'zero' | 'add-server' | 'edit-server'
  | 'delete-server' | 'start-daemon' | 'stop-daemon' | 'get-service' | 'flush' | 'set' | 'list';

const BY_OPERATION: Array<[Operation, number, string]> = [
  ['add-service', ERRNO.EEXIST, 'Service already exists'],
  ['add-service', ERRNO.ENOENT, 'Scheduler or persistence engine not found'],
  ['edit-service', ERRNO.ESRCH, 'No such service'],
  ['edit-service', ERRNO.ENOENT, 'Scheduler or persistence engine not found'],
  ['delete-service', ERRNO.ESRCH, 'No such service'],
  ['zero', ERRNO.ESRCH, 'No such service'],
  ['add-server', ERRNO.ESRCH, 'Service not defined'],
  ['add-server', ERRNO.EEXIST, 'Destination already exists'],
  ['edit-server', ERRNO.ESRCH, 'Service not defined'],
  ['edit-server', ERRNO.ENOENT, 'No such destination'],
  ['delete-server', ERRNO.ESRCH, 'Service not defined'],
  ['delete-server', ERRNO.ENOENT, 'No such destination'],
  ['start-daemon', ERRNO.EEXIST, 'Daemon has already run'],
  ['stop-daemon', ERRNO.ESRCH, 'No daemon is running'],
  ['get-service', ERRNO.ESRCH, 'No such service'],
];
const BY_ERRNO: Record<number, string> = {
  [ERRNO.EPERM]: 'Permission denied (you must be root)',
  [ERRNO.EINVAL]: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  [ERRNO.ENOPROTOOPT]: 'Protocol not available',
  [ERRNO.ENOMEM]: 'Memory allocation problem',
  [ERRNO.EOPNOTSUPP]: 'Operation not supported with IPv6',
  [ERRNO.EAFNOSUPPORT]: 'Operation not supported with specified address family',
  [ERRNO.EMSGSIZE]: 'Module is wrong version',
};
const STRERROR: Record<number, string> = {
  [ERRNO.ENOENT]: 'No such file or directory', [ERRNO.ESRCH]: 'No such process', [ERRNO.EIO]: 'Input/output error',
  [ERRNO.EFAULT]: 'Bad address', [ERRNO.EEXIST]: 'File exists', [ERRNO.ENODEV]: 'No such device', [ERRNO.ERANGE]: 'Numerical result out of range',
};

export function ipvsStrerror(op: Operation, errno: number): string {
  return BY_OPERATION.find(([o, e]) => o === op && e === errno)?.[2] ?? BY_ERRNO[errno] ?? STRERROR[errno] ?? `Unknown error ${errno}`;
}

/** The operation ipvsadm's message table would name for a command. */
export function operationOf(c: IpvsadmCommand): Operation {
  switch (c.cmd) {
    case 'add-service': case 'edit-service': case 'delete-service': case 'zero': case 'add-server':
    case 'edit-server': case 'delete-server': case 'start-daemon': case 'stop-daemon': case 'flush': case 'set':
      return c.cmd;
    default:
      return 'list';
  }
}
