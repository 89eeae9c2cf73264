// /v1/batch: several writes applied as ONE change of the desired state (one delta, one journal
// record), in order, each answered as its own route would answer it. A write that fails is
// skipped and the rest go on, as ipvsadm -R carries on past a kernel error; what did succeed
// is applied atomically. fvsadm -R sends its lines here: no cap on ops beyond the body limit
// (sized for a 10,000-service restore), and the work yields to the event loop in slices.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from '@sinclair/typebox';
import { RealServerSchema, ServiceSchema, type RealServerConfig } from '../../control/config_schema';
import { serverProblems, validateService, type ServiceContext } from '../../control/config_load';
import { schemaProblems } from '../../control/config_errors';
import type { Daemon } from '../../control/daemon';
import { canonicalServerId, canonicalServiceId, serverId } from '../../control/identity';
import { breathe } from '../../control/slices';
import type { Draft } from '../../control/state';
import { readStreamed, type BodyReader } from '../body_stream';
import * as edit from '../edits';
import { ApiError, readablePath } from '../errors';
import { PatchServer, PatchService } from './services';

const TimeoutsPatch = Type.Object({
  tcp: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483 })),
  tcpfin: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483 })),
  udp: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483 })),
}, { additionalProperties: false });

const Op = Type.Object({
  method: Type.Union(['POST', 'PUT', 'PATCH', 'DELETE'].map((m) => Type.Literal(m))),
  path: Type.String({ description: 'a write route: /v1/services[/{id}[/servers[/{server}]]] or /v1/timeouts' }),
  body: Type.Optional(Type.Unknown()),
}, { additionalProperties: false });

/** One op's answer, as its own route would have given it. */
export type OpResult = { status: number; message?: string; problems?: string[]; missing?: string };

function checked<T>(schema: TSchema, body: unknown): T {
  const problems = schemaProblems(schema, body).map((e) => `${readablePath(e.path) || '(body)'}: ${e.message}`);
  if (problems.length) throw new ApiError(400, `invalid body: ${problems.join('; ')}`, problems);
  return body as T;
}

/** The path's parts (v1, services, id, servers, server), each percent-decoded; a bad escape is
 * the op's own 400, not the batch's 500. */
let lastPath = '';
let lastParts: string[] = [];
function pathParts(path: string): string[] {
  // A restore's consecutive real servers name the same service path: decoded once.
  if (path === lastPath) return lastParts;
  const parts = path.split('?')[0].split('/').slice(1).map((x) => {
    try {
      return decodeURIComponent(x);
    } catch (e) {
      if (!(e instanceof URIError)) throw e;
      throw new ApiError(400, `the path ${path} has a bad percent-escape in '${x}'`, [`path: bad percent-escape in '${x}'`]);
    }
  });
  // ids in their canonical form, as the state keys them (`tcp:[2001:DB8::1]:80` names tcp:[2001:db8::1]:80)
  if (parts[1] === 'services' && parts[2] !== undefined) parts[2] = canonicalServiceId(parts[2]);
  if (parts[1] === 'services' && parts[4] !== undefined) parts[4] = canonicalServerId(parts[4]);
  lastPath = path;
  lastParts = parts;
  return parts;
}

/** The route a path's parts name (ids as :id and :server), e.g. `POST /v1/services/:id/servers`. */
function routeOf(method: string, p: string[]): string {
  if (p[0] !== 'v1') return `${method} /${p.join('/')}`;
  if (p[1] === 'services' && p.length >= 3) {
    if (p.length === 3) return `${method} /v1/services/:id`;
    if (p.length === 4) return `${method} /v1/services/:id/${p[3]}`;
    if (p.length === 5) return `${method} /v1/services/:id/${p[3]}/:server`;
  }
  return `${method} /${p.join('/')}`;
}

/** One write on the draft, as its route would do it; returns the route's success status, the
 * service it touched and, for a write to one real server, that server as placed: the rest of
 * the service was valid before the write, so the server alone is checked. */
function run(d: Draft, method: string, path: string, body: unknown): { status: number; touched?: string; server?: RealServerConfig } {
  const p = pathParts(path);
  const route = routeOf(method, p);
  switch (route) {
    case 'POST /v1/services': return { status: 201, touched: edit.addService(d, checked(ServiceSchema, body)) };
    case 'DELETE /v1/services': edit.deleteAllServices(d); return { status: 204 };
    case 'PUT /v1/services/:id': edit.replaceService(d, p[2], checked(ServiceSchema, body)); return { status: 200, touched: p[2] };
    case 'PATCH /v1/services/:id': edit.patchService(d, p[2], checked(PatchService, body)); return { status: 200, touched: p[2] };
    case 'DELETE /v1/services/:id': edit.deleteService(d, p[2]); return { status: 204 };
    case 'POST /v1/services/:id/servers': {
      const server = checked<RealServerConfig>(RealServerSchema, body);
      edit.addServer(d, p[2], server);
      return { status: 201, touched: p[2], server };
    }
    case 'PUT /v1/services/:id/servers/:server':
      return { status: 200, touched: p[2], server: edit.replaceServer(d, p[2], p[4], checked(RealServerSchema, body)) };
    case 'PATCH /v1/services/:id/servers/:server': {
      const server = edit.patchServer(d, p[2], p[4], checked(PatchServer, body));
      // A new method can move a DR/TUN server's key onto another's: then the whole service.
      return { status: 200, touched: p[2], ...(serverId(d.get(p[2])!, server) === p[4] ? { server } : {}) };
    }
    case 'DELETE /v1/services/:id/servers/:server': edit.deleteServer(d, p[2], p[4]); return { status: 204, touched: p[2] };
    case 'PATCH /v1/timeouts': edit.setTimeouts(d, checked(TimeoutsPatch, body)); return { status: 200 };
    default: throw new ApiError(400, `${method} ${path} is not a write a batch can hold`);
  }
}

export type OpT = { method: string; path: string; body?: unknown };

/** One NDJSON line as an op (line numbers from 1); blank lines are skipped. */
function ndjsonOp(src: string, line: number): OpT | undefined {
  if (!src.trim()) return undefined;
  let op: unknown;
  try {
    op = JSON.parse(src);
  } catch (e) {
    throw new ApiError(400, `line ${line}: not valid JSON: ${(e as Error).message}`, [`line ${line}: not valid JSON`]);
  }
  const bad = schemaProblems(Op, op);
  if (bad.length) {
    const problems = bad.map((x) => `line ${line}${readablePath(x.path) ? '.' + readablePath(x.path) : ''}: ${x.message}`);
    throw new ApiError(400, `invalid op: ${problems.join('; ')}`, problems);
  }
  return op as OpT;
}

/** The ops of an NDJSON body, read as its bytes arrive: each chunk's lines are parsed and
 * checked in its own turn of the event loop, and the reading overlaps the sending. */
function ndjsonReader(): BodyReader {
  const ops: OpT[] = [];
  let rest = '';
  let line = 0;
  return {
    piece(text) {
      const all = rest + text;
      let at = 0;
      for (let nl = all.indexOf('\n'); nl >= 0; nl = all.indexOf('\n', at)) {
        const op = ndjsonOp(all.slice(at, nl), ++line);
        if (op) ops.push(op);
        at = nl + 1;
      }
      rest = all.slice(at);
    },
    end() {
      const op = ndjsonOp(rest, ++line);
      if (op) ops.push(op);
      if (!ops.length) throw new ApiError(400, 'the batch holds no ops', ['(body): no ops']);
      return ops;
    },
  };
}

/** One write of a batch on the draft, answered as its route would answer it; a refused write
 * leaves the draft as it was. Each write must leave a valid service on its own, as each route's
 * change must. */
export function applyOp(d: Draft, op: OpT, ctx: ServiceContext): OpResult {
  const mark = d.mark();
  try {
    const { status, touched, server } = run(d, op.method, op.path, op.body);
    const s = touched !== undefined ? d.get(touched) : undefined;
    const problems = !s ? []
      // the server's body passed its schema already (checked): its cross-field rules remain
      : server ? serverProblems(server, `services[${touched}].realServers[${s.realServers!.indexOf(server)}]`, ctx, s)
        : validateService(s, `services[${touched}]`, ctx);
    if (problems.length) throw new ApiError(400, `the change is refused: ${problems.join('; ')}`, problems);
    d.keep(mark);
    return { status };
  } catch (e) {
    d.rollback(mark);
    if (!(e instanceof ApiError)) throw e;
    return { status: e.statusCode, message: e.message, ...(e.problems ? { problems: e.problems } : {}), ...(e.extra as object) };
  }
}

export const batchRoutes = (daemon: Daemon, bodyLimit: number): FastifyPluginAsyncTypebox => async (app) => {
  // The ops' checkers are compiled now, not in the first restore's turn (30 ms there).
  for (const schema of [ServiceSchema, RealServerSchema, PatchService, PatchServer, TimeoutsPatch, Op]) schemaProblems(schema, undefined);
  // An NDJSON body's ops are kept beside its request; the body itself is a placeholder string
  // for the route's schema (ajv would otherwise walk 110,000 ops already checked line by line).
  const ndjson = new WeakMap<object, OpT[]>();
  app.addContentTypeParser('application/x-ndjson', { bodyLimit }, (req, payload, done) => {
    readStreamed(req.headers, payload, bodyLimit, ndjsonReader(), (err, ops) => {
      if (err) return done(err, undefined);
      ndjson.set(req, ops as OpT[]);
      done(null, 'ndjson');  // Ops parsed here skip the route's schema: each line was checked
    });
  });

  app.post('/v1/batch', {
    bodyLimit,
    schema: { tags: ['config'], summary: 'Several writes as one change (fvsadm -R): each answered, the successful ones applied atomically. The body is {"ops":[...]} (application/json) or one op per line (application/x-ndjson).',
      body: Type.Union([Type.Object({ ops: Type.Array(Op, { minItems: 1 }) }, { additionalProperties: false }), Type.String()]) },
  }, async (req) => {
    const ops = typeof req.body === 'string' ? ndjson.get(req) : req.body.ops;
    if (!ops) throw new ApiError(400, 'the body must be {"ops":[...]} (application/json) or one op per line (application/x-ndjson)');
    const ctx = { localAddresses: daemon.state.staticCfg.localAddresses };
    const results = await daemon.change(async (d) => {
      const out: OpResult[] = [];
      const slice = { start: performance.now() };
      for (const op of ops) {
        await breathe(slice);
        out.push(applyOp(d, op, ctx));
      }
      return out;
    });
    return { results };
  });

  app.patch('/v1/timeouts', { schema: { tags: ['timeouts'], summary: 'Set some timeouts; the others stay', body: TimeoutsPatch } }, async (req) => {
    await daemon.change((d) => edit.setTimeouts(d, req.body));
    return daemon.state.timeouts;
  });
};
