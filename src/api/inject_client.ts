// The director's API as a client inside the director: requests go through the app's own routes
// in-process (fastify's inject), carrying the caller's Authorization header and address, so
// what they may do, how they are checked and how they are logged is exactly what the same
// requests over HTTP get. POST /v1/ipvsadm runs fvsadm with it.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { encodeBody, readAnswer, type ApiClient } from '../client/http';

export function injectClient(app: FastifyInstance, caller: FastifyRequest): ApiClient {
  const base = `http://${caller.headers.host ?? 'director'}`;
  return {
    async request(method, url, body) {
      const sent = encodeBody(body);
      const headers: Record<string, string> = {};
      if (caller.headers.authorization !== undefined) headers.authorization = caller.headers.authorization;
      if (sent) headers['content-type'] = sent.type;
      const r = await app.inject({ method, url, headers, payload: sent?.payload, remoteAddress: caller.ip });
      return readAnswer(base, r.statusCode, r.headers['content-type'] as string | undefined, r.payload);
    },
  };
}
