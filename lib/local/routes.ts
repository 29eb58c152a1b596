/**
 * The routes of `serverless.yml`, read from its `http` events, matched the way API Gateway REST matches resources:
 * literal segments first, then `{param}` (one segment), then `{param+}` (the rest, one segment or more). Path
 * parameters are percent-decoded per segment, as API Gateway hands them to the handler.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { dictionary } from '../util/dictionary';

export interface Route {
  /** The resource path as API Gateway names it, e.g. `/submissions/{id+}`. */
  resource: string;
  /** `ANY` or one method. */
  method: string;
  /** `functions/<file>.<export>`. */
  handler: string;
  segments: Segment[];
  /** How specific the route is, segment by segment: literal 2, `{param}` 1, `{param+}` 0 (see `matchRoute`). */
  rank: number[];
}

type Segment = { kind: 'literal'; value: string } | { kind: 'param'; name: string } | { kind: 'greedy'; name: string };

export interface RouteMatch {
  route: Route;
  pathParameters: Record<string, string> | null;
}

interface ServerlessFunction {
  handler?: unknown;
  events?: unknown;
}

export function loadRoutes(serverlessYmlPath: string): Route[] {
  const document = parse(readFileSync(serverlessYmlPath, 'utf8')) as { functions?: Record<string, ServerlessFunction> };
  const routes: Route[] = [];
  for (const [name, fn] of Object.entries(document.functions ?? {})) {
    if (typeof fn.handler !== 'string') throw new Error(`Function ${name} in serverless.yml has no handler.`);
    for (const event of Array.isArray(fn.events) ? fn.events : []) {
      const http = (event as { http?: { path?: unknown; method?: unknown } }).http;
      if (!http) continue;
      if (typeof http.path !== 'string' || typeof http.method !== 'string') {
        throw new Error(`An http event of ${name} in serverless.yml lacks a path or method.`);
      }
      routes.push(routeOf(http.path, http.method, fn.handler));
    }
  }
  return routes;
}

/**
 * A route from an API Gateway resource path (`/submissions/{id+}`), its method and the handler's name: from
 * `serverless.yml` here, from the generated template in the "as deployed" tier (test/deployed).
 */
export function routeOf(path: string, method: string, handler: string): Route {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  const segments = trimmed === '' ? [] : trimmed.split('/').map(parseSegment);
  return {
    resource: `/${trimmed}`,
    method: method.toUpperCase(),
    handler,
    segments,
    rank: segments.map((s) => (s.kind === 'literal' ? 2 : s.kind === 'param' ? 1 : 0)),
  };
}

function parseSegment(segment: string): Segment {
  const greedy = /^\{(\w+)\+\}$/.exec(segment);
  if (greedy?.[1]) return { kind: 'greedy', name: greedy[1] };
  const param = /^\{(\w+)\}$/.exec(segment);
  if (param?.[1]) return { kind: 'param', name: param[1] };
  return { kind: 'literal', value: segment };
}

/** The route for a raw (still percent-encoded) request path, or `undefined`: API Gateway's "no such resource". */
export function matchRoute(routes: readonly Route[], rawPath: string): RouteMatch | undefined {
  const segments = rawPath.replace(/^\//, '').split('/');
  const parts = rawPath === '/' ? [] : segments;
  let best: { match: RouteMatch; score: number[] } | undefined;
  for (const route of routes) {
    const params = matchSegments(route.segments, parts);
    if (!params) continue;
    // More specific first: literal segments outrank parameters, which outrank greedy ones.
    if (!best || compareScores(route.rank, best.score) > 0) {
      best = { match: { route, pathParameters: Object.keys(params).length ? params : null }, score: route.rank };
    }
  }
  return best?.match;
}

function matchSegments(pattern: readonly Segment[], parts: readonly string[]): Record<string, string> | undefined {
  // Most routes fail on their first segment: the parameters' dictionary is made for those that do not.
  let params: Record<string, string> | undefined;
  for (let i = 0; i < pattern.length; i++) {
    const segment = pattern[i] as Segment;
    if (segment.kind === 'greedy') {
      const rest = parts.slice(i);
      if (rest.length === 0 || rest.join('/') === '') return undefined;
      params ??= dictionary<string>();
      params[segment.name] = rest.map(decode).join('/');
      return params;
    }
    const part = parts[i];
    if (part === undefined || part === '') return undefined;
    if (segment.kind === 'literal' && segment.value !== part) return undefined;
    if (segment.kind === 'param') {
      params ??= dictionary<string>();
      params[segment.name] = decode(part);
    }
  }
  return pattern.length === parts.length ? (params ?? dictionary<string>()) : undefined;
}

function decode(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // malformed escapes pass through; the handler's validation names them
  }
}

function compareScores(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] ?? -1) - (b[i] ?? -1);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** An `s3` event of `serverless.yml`: which object-created notifications reach which handler. */
export interface S3Trigger {
  handler: string;
  /** e.g. `s3:ObjectCreated:*` */
  event: string;
  prefix: string;
  suffix: string;
}

export function loadS3Triggers(serverlessYmlPath: string): S3Trigger[] {
  const document = parse(readFileSync(serverlessYmlPath, 'utf8')) as { functions?: Record<string, ServerlessFunction> };
  const triggers: S3Trigger[] = [];
  for (const fn of Object.values(document.functions ?? {})) {
    for (const event of Array.isArray(fn.events) ? fn.events : []) {
      const s3 = (event as { s3?: { event?: unknown; rules?: unknown } }).s3;
      if (!s3 || typeof fn.handler !== 'string') continue;
      const rules = (Array.isArray(s3.rules) ? s3.rules : []) as { prefix?: string; suffix?: string }[];
      triggers.push({
        handler: fn.handler,
        event: typeof s3.event === 'string' ? s3.event : 's3:ObjectCreated:*',
        prefix: rules.find((rule) => rule.prefix !== undefined)?.prefix ?? '',
        suffix: rules.find((rule) => rule.suffix !== undefined)?.suffix ?? '',
      });
    }
  }
  return triggers;
}

/** Whether S3 would deliver a notification named `eventName` (e.g. `ObjectCreated:Put`) for `key` to `trigger`. */
export function triggerMatches(trigger: S3Trigger, eventName: string, key: string): boolean {
  const pattern = trigger.event.replace(/^s3:/, '');
  const nameMatches = pattern.endsWith(':*') ? eventName.startsWith(pattern.slice(0, -1)) : eventName === pattern;
  return nameMatches && key.startsWith(trigger.prefix) && key.endsWith(trigger.suffix);
}
