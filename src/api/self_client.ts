// The director's API as a client inside the director: requests go to its own listening socket
// over HTTP with the caller's bearer token, so what they may do, how they are checked and how
// they are logged is exactly what the same requests from the caller get. POST /v1/ipvsadm runs
// fvsadm with it. (Not fastify's inject: light-my-request needs require() of an ES module,
// which Debian 12's Node 18 cannot do.)
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpApi, type ApiClient } from '../client/http';

export function selfClient(app: FastifyInstance, caller: FastifyRequest): ApiClient {
  const a = app.server.address();
  if (!a || typeof a === 'string') throw new Error('the API does not listen on a TCP port');
  // a wildcard listener is reached on loopback
  const host = a.address === '0.0.0.0' ? '127.0.0.1' : a.address === '::' ? '::1' : a.address;
  const token = /^bearer +(.*)$/i.exec(caller.headers.authorization ?? '')?.[1].trim();
  return new HttpApi(`http://${host.includes(':') ? `[${host}]` : host}:${a.port}`, token || undefined);
}
