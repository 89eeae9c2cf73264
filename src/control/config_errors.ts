// Turns typebox's validation errors into problems a person can act on. typebox stops at a
// union with "Expected union value"; here a union of names says which names are valid
// (`unknown scheduler 'foo' (rr, wrr, ...)`), a union of objects told apart by a tag field
// (the health checks' `type`) is judged as the variant the tag picks, so the problem names the
// field and its range (`healthChecks[0].interval: must be >= 0.1`), and an unknown tag lists
// the valid ones. Paths stay JSON pointers; config_load.ts makes them readable.
import { Kind, type TSchema } from '@sinclair/typebox';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';

export interface Problem {
  /** JSON pointer to the value, e.g. /services/0/healthChecks/0/interval. */
  path: string;
  message: string;
}

/** The values a schema of literals (or a union of them) accepts; undefined when it accepts others. */
function literals(schema: TSchema): unknown[] | undefined {
  if (schema[Kind] === 'Literal') return [schema.const];
  if (schema[Kind] !== 'Union') return undefined;
  const all = (schema.anyOf as TSchema[]).map(literals);
  return all.every((x) => x !== undefined) ? all.flat() : undefined;
}

const chars = (n: number) => `${n} character${n === 1 ? '' : 's'}`;
const show = (v: unknown) => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v));

/** The last name in a pointer: /services/0/scheduler -> scheduler. */
const fieldOf = (pointer: string) => pointer.split('/').filter((p) => p && !/^\d+$/.test(p)).pop() ?? 'value';

/** Whether a member of a union is meant for values of this JavaScript kind. */
function sameKind(schema: TSchema, value: unknown): boolean {
  switch (schema[Kind]) {
    case 'Literal': return typeof schema.const === typeof value;
    case 'String': return typeof value === 'string';
    case 'Number':
    case 'Integer': return typeof value === 'number';
    case 'Boolean': return typeof value === 'boolean';
    case 'Array': return Array.isArray(value);
    case 'Object': return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'Union': return (schema.anyOf as TSchema[]).some((m) => sameKind(m, value));
    default: return false;
  }
}

/** A property every object member tags with literals (the health checks' `type`): its name
 * and which member each tag picks. */
function discriminator(members: TSchema[]): { name: string; byTag: Map<unknown, TSchema> } | undefined {
  if (members.length < 2 || !members.every((m) => m[Kind] === 'Object')) return undefined;
  for (const name of Object.keys(members[0].properties ?? {})) {
    const tags = members.map((m) => (m.properties?.[name] ? literals(m.properties[name]) : undefined));
    if (tags.some((t) => t === undefined) || !members.every((m) => m.required?.includes(name))) continue;
    const byTag = new Map<unknown, TSchema>();
    tags.forEach((t, i) => t!.forEach((tag) => byTag.set(tag, members[i])));
    return { name, byTag };
  }
  return undefined;
}

/** One typebox error as one or more problems, with messages that name the range or the choices. */
export function explainError(e: ValueError): Problem[] {
  const s = e.schema;
  switch (e.type) {
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum: return [{ path: e.path, message: `must be >= ${s.minimum}` }];
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum: return [{ path: e.path, message: `must be <= ${s.maximum}` }];
    case ValueErrorType.StringMinLength: return [{ path: e.path, message: `must be at least ${chars(s.minLength)}` }];
    case ValueErrorType.StringMaxLength: return [{ path: e.path, message: `must be at most ${chars(s.maxLength)}` }];
    case ValueErrorType.ObjectAdditionalProperties:
      return [{ path: e.path, message: `unknown field (known: ${Object.keys(s.properties ?? {}).join(', ')})` }];
    case ValueErrorType.StringFormat:
      if (s.format === 'ip') return [{ path: e.path, message: `${show(e.value)} is not an IPv4 or IPv6 address` }];
      if (s.format === 'ipv6') return [{ path: e.path, message: `${show(e.value)} is not an IPv6 address` }];
      if (s.format === 'ipv4') return [{ path: e.path, message: `${show(e.value)} is not an IPv4 address (a.b.c.d)` }];
      return [{ path: e.path, message: e.message }];
    case ValueErrorType.Union: return explainUnion(e);
    default: return [{ path: e.path, message: e.message }];
  }
}

function explainUnion(e: ValueError): Problem[] {
  const members = e.schema.anyOf as TSchema[];
  const names = literals(e.schema);
  if (names) return [{ path: e.path, message: `unknown ${fieldOf(e.path)} ${show(e.value)} (${names.join(', ')})` }];
  const tagged = discriminator(members);
  const v = e.value;
  if (tagged && typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const tag = (v as Record<string, unknown>)[tagged.name];
    const choices = [...tagged.byTag.keys()].join(', ');
    const at = `${e.path}/${tagged.name}`;
    if (tag === undefined) return [{ path: at, message: `required (${choices})` }];
    const variant = tagged.byTag.get(tag);
    if (!variant) return [{ path: at, message: `unknown ${tagged.name} ${show(tag)} (${choices})` }];
    return within(e.path, variant, v);
  }
  if (tagged) return [{ path: e.path, message: `must be an object with ${tagged.name} (${[...tagged.byTag.keys()].join(', ')})` }];
  // One member fits this kind of value (a string where the others are false or objects): its errors.
  const fits = members.filter((m) => sameKind(m, v));
  if (fits.length === 1) return within(e.path, fits[0], v);
  return [{ path: e.path, message: e.message }];
}

/** The problems of value against one member of a union, at the union's path. */
function within(path: string, schema: TSchema, value: unknown): Problem[] {
  const out: Problem[] = [];
  for (const inner of Value.Errors(schema, value)) {
    for (const p of explainError(inner)) out.push({ path: path + p.path, message: p.message });
  }
  return out;
}

// Compiled once per schema: checking the body of each API write (and each of a restore's
// 110,000 ops) against an interpreted schema was the cost.
const compiled = new WeakMap<TSchema, ReturnType<typeof TypeCompiler.Compile>>();

/** Every problem of `value` against `schema` (at most `limit`), worded by explainError; []
 * when it fits. The one checker for config files, API requests and batch ops. */
export function schemaProblems(schema: TSchema, value: unknown, limit = 50): Problem[] {
  let c = compiled.get(schema);
  if (!c) compiled.set(schema, c = TypeCompiler.Compile(schema));
  if (c.Check(value)) return [];
  const out: Problem[] = [];
  for (const e of c.Errors(value)) {
    out.push(...explainError(e));
    if (out.length >= limit) break;
  }
  return out;
}
