// POST /v1/ipvsadm: one fvsadm invocation run on the director, so the native fvsadm
// (native/fvsadm/) costs a process start and one request instead of Node's start. There is one
// ipvsadm language: the director runs the same runFvsadm as the JS fvsadm, its API being this
// app reached on its own socket with the caller's own token (self_client.ts), so auth, the
// file-only rule and every check are those of the routes it calls. The client's machine keeps
// what is its own: standard input is read only when the command asks for it (answered 409
// {needs:"stdin"}, the client sends it), and names (a host, a port name, a listing without -n
// that would print one) are answered 409 {needs:"client"}: the client runs the command itself.
import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { runFvsadm, type FvsadmEnv } from '../../ipvsadm/run';
import { readStreamed } from '../body_stream';
import { jsonStringPieces } from '../json_array';
import { JsonPieces } from '../json_pieces';
import { NamesNeeded, noHostLookup, noReverseHost, noServices } from '../client_names';
import { ApiError } from '../errors';
import { selfClient } from '../self_client';

/** The command needs what only the client has. */
class Needs extends Error {
  constructor(readonly what: 'stdin' | 'client') { super(what); }
}

const Invocation = Type.Object({
  argv: Type.Array(Type.String(), { description: 'the arguments after the program name' }),
  program: Type.Optional(Type.String({ maxLength: 64, description: 'the name ipvsadm\'s messages use (argv[0]); default fvsadm' })),
  stdin: Type.Optional(Type.String({ description: 'all of standard input, sent only after a 409 {"needs":"stdin"}' })),
}, { additionalProperties: false });

/** Output longer than this is written in slices. */
const LONG_OUTPUT = 1 << 18;
const Outcome = Type.Object({ stdout: Type.String(), stderr: Type.String(), exit: Type.Integer() });

export const ipvsadmRoutes = (bodyLimit: number): FastifyPluginAsyncTypebox => async (app) => {
  // A -R's body holds all of its input (a large site's save is 5 MB): decoded as it arrives
  // and kept as pieces (json_pieces.ts), which go on to POST /v1/restore as they are.
  const readers = new WeakMap<object, JsonPieces>();
  app.addContentTypeParser('application/json', { bodyLimit }, (req, payload, done) => {
    const reader = new JsonPieces();
    readers.set(req, reader);
    readStreamed(req.headers, payload, bodyLimit, reader, done);
  });
  app.post('/v1/ipvsadm', {
    bodyLimit,
    // Logged below when it wrote, with the caller and the command (its writes reach their
    // routes from loopback), not for every listing.
    config: { loggedAsWrite: false },
    schema: {
      tags: ['config'],
      summary: 'Run one fvsadm (ipvsadm) invocation on the director and answer what it printed and its exit status. ' +
        'Its requests go through this API with the caller\'s token. 409 {"needs":"stdin"}: send again with "stdin" (-R); ' +
        '409 {"needs":"client"}: the command names a host or a port (or -R reads the table between lines): the client runs it itself.',
      body: Invocation,
      response: { 200: Outcome },
    },
  }, async (req, reply) => {
    const { argv, program = 'fvsadm', stdin } = req.body;
    const inner = selfClient(app, req);
    const stdout: string[] = [];
    let stdoutLength = 0, stderr = '', wrote = false;
    const env: FvsadmEnv = {
      program,
      api: {
        async request(method, path, body) {
          wrote ||= method !== 'GET';
          const r = await inner.request(method, path, body);
          // -R is answered here only when POST /v1/restore answers it whole: the line-by-line
          // run it hands back could need a name after its writes, when the client could no
          // longer take the command over.
          if (path.startsWith('/v1/restore') && r.status === 200 && (r.body as { fallback?: string } | null)?.fallback) throw new Needs('client');
          return r;
        },
      },
      readStdin: async () => {
        if (stdin === undefined) throw new Needs('stdin');
        return readers.get(req)?.text(stdin) ?? stdin;
      },
      lookupHost: noHostLookup,
      reverseHost: noReverseHost,
      services: noServices,
      // Kept as the pieces printed: a large listing's pieces are joined by nobody (Printed).
      out: (s) => { if (s) { stdout.push(s); stdoutLength += s.length; } },
      err: (s) => { stderr += s; },
    };
    try {
      const exit = await runFvsadm(argv, env);
      if (wrote) req.log.info({ argv, exit, remote: req.ip, token: req.headers.authorization !== undefined }, 'fvsadm on the director');
      if (stdoutLength <= LONG_OUTPUT) return { stdout: stdout.join(''), stderr, exit };
      // A large table's listing: written in slices (serialized at once it held the event loop
      // for 100-200 ms), the same document the schema's serializer writes.
      reply.type('application/json; charset=utf-8');
      const text = Readable.from((async function* () {
        yield '{"stdout":';
        yield* jsonStringPieces(stdout);
        yield `,"stderr":${JSON.stringify(stderr)},"exit":${exit}}`;
      })(), { objectMode: false });
      // A stream is sent as it is (the schema's serializer is not run on it).
      return text as unknown as Static<typeof Outcome>;
    } catch (e) {
      if (e instanceof Needs) throw needs(e.what);
      if (e instanceof NamesNeeded) throw needs('client');
      throw e;
    }
  });
};

function needs(what: 'stdin' | 'client'): ApiError {
  return new ApiError(409, what === 'stdin' ? 'the command reads standard input: send it as "stdin"'
    : 'the command needs the client\'s own names (resolver, /etc/services) or runs line by line: run it on the client', undefined, { needs: what });
}
