// Names are the client's: ipvsadm resolves host names with its own machine's resolver and
// port names with its own /etc/services, so when the director runs ipvsadm's language for a
// client (POST /v1/restore, POST /v1/ipvsadm) it looks up none and never guesses: any name
// throws NamesNeeded, and the client is told to run the command itself.
import type { HostLookup, ServicesDb } from '../ipvsadm/args';

/** The input names a host or a port (or a listing would print one): the client resolves it. */
export class NamesNeeded extends Error {
  constructor() { super('a host or port name: the client resolves it'); }
}

const needed = (): never => { throw new NamesNeeded(); };

/** /etc/services, as the director may not read it for a client. */
export const noServices: ServicesDb = { portOf: needed, nameOf: needed };
/** gethostbyname and gethostbyaddr, as the director may not call them for a client. */
export const noHostLookup: HostLookup = async () => needed();
export const noReverseHost = async (_address: string): Promise<string | undefined> => needed();
