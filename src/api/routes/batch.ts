// /v1/batch: several writes applied as ONE change of the desired state (one snapshot, one
// persisted file), in order, each answered as its own route would answer it. A write that
// fails is skipped and the rest go on, as ipvsadm -R carries on past a kernel error; what
// did succeed is applied atomically. fvsadm -R sends its lines here.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { RealServerSchema, ServiceSchema, type FulcrumConfig } from '../../control/config_schema';
import { type ConfigError, validateConfig } from '../../control/config_load';
import type { Daemon } from '../../control/daemon';
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

type Result = { status: number; message?: string; problems?: string[]; missing?: string };

function checked<T>(schema: TSchema, body: unknown): T {
  const problems = [...Value.Errors(schema, body)].map((e) => `${readablePath(e.path) || '(body)'}: ${e.message}`);
  if (problems.length) throw new ApiError(400, `invalid body: ${problems.join('; ')}`, problems);
  return body as T;
}

/** One write on the draft, as its route would do it; returns the route's success status. */
function run(cfg: FulcrumConfig, method: string, path: string, body: unknown): number {
  const p = path.split('?')[0].split('/').slice(1).map(decodeURIComponent);  // v1, services, id, servers, server
  const route = `${method} /${p.map((x, i) => (i === 2 && p[1] === 'services' ? ':id' : i === 4 ? ':server' : x)).join('/')}`;
  switch (route) {
    case 'POST /v1/services': edit.addService(cfg, checked(ServiceSchema, body)); return 201;
    case 'DELETE /v1/services': edit.deleteAllServices(cfg); return 204;
    case 'PUT /v1/services/:id': edit.replaceService(cfg, p[2], checked(ServiceSchema, body)); return 200;
    case 'PATCH /v1/services/:id': edit.patchService(cfg, p[2], checked(PatchService, body)); return 200;
    case 'DELETE /v1/services/:id': edit.deleteService(cfg, p[2]); return 204;
    case 'POST /v1/services/:id/servers': edit.addServer(cfg, p[2], checked(RealServerSchema, body)); return 201;
    case 'PUT /v1/services/:id/servers/:server': edit.replaceServer(cfg, p[2], p[4], checked(RealServerSchema, body)); return 200;
    case 'PATCH /v1/services/:id/servers/:server': edit.patchServer(cfg, p[2], p[4], checked(PatchServer, body)); return 200;
    case 'DELETE /v1/services/:id/servers/:server': edit.deleteServer(cfg, p[2], p[4]); return 204;
    case 'PATCH /v1/timeouts': edit.setTimeouts(cfg, checked(TimeoutsPatch, body)); return 200;
    default: throw new ApiError(400, `${method} ${path} is not a write a batch can hold`);
  }
}

export const batchRoutes = (daemon: Daemon): FastifyPluginAsyncTypebox => async (app) => {
  app.post('/v1/batch', {
    schema: { tags: ['config'], summary: 'Several writes as one change (fvsadm -R): each answered, the successful ones applied atomically',
      body: Type.Object({ ops: Type.Array(Op, { minItems: 1, maxItems: 10000 }) }, { additionalProperties: false }) },
  }, async (req) => {
    const results = await daemon.change((cfg) => req.body.ops.map((op): Result => {
      const before = structuredClone(cfg);
      try {
        const status = run(cfg, op.method, op.path, op.body);
        // Each write must leave a valid config on its own, as each route's change must.
        try {
          validateConfig(cfg, 'change');
        } catch (e) {
          const problems = (e as ConfigError).problems ?? [(e as Error).message];
          throw new ApiError(400, `the change is refused: ${problems.join('; ')}`, problems);
        }
        return { status };
      } catch (e) {
        // A failed write leaves the draft as it was.
        for (const k of Object.keys(cfg)) if (!(k in before)) delete (cfg as Record<string, unknown>)[k];
        Object.assign(cfg, before);
        if (!(e instanceof ApiError)) throw e;
        return { status: e.statusCode, message: e.message, ...(e.problems ? { problems: e.problems } : {}), ...(e.extra as object) };
      }
    }));
    return { results };
  });

  app.patch('/v1/timeouts', { schema: { tags: ['timeouts'], summary: 'Set some timeouts; the others stay', body: TimeoutsPatch } }, async (req) => {
    await daemon.change((cfg) => edit.setTimeouts(cfg, req.body));
    const t = daemon.state.current.timeouts!;
    return { tcp: t.tcp, tcpfin: t.tcpfin, udp: t.udp };
  });
};
