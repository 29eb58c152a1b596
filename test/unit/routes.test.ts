import { join } from 'node:path';
import { httpHandlers } from '../../functions/index';
import { loadRoutes, matchRoute, type Route } from '../../lib/local/routes';

const routes: Route[] = loadRoutes(join(__dirname, '../../serverless.yml'));

/** docs/protocol.md §2, as API Gateway resources. */
const PROTOCOL_RESOURCES = [
  '/',
  '/submissions/{id+}',
  '/submission_archives/{name+}',
  '/exercises',
  '/tasks',
  '/exercises/{hash+}',
  '/tasks/{hash+}',
  '/results/{name+}',
  '/attachments/{id+}',
  // The large-upload route (docs/protocol.md §7: "the large-upload route hands out presigned S3 PUT URLs").
  '/uploads/{target+}',
];

describe('loadRoutes on serverless.yml', () => {
  it.each(PROTOCOL_RESOURCES.map((resource) => [resource]))(
    'has a route for %s with method ANY and a known handler',
    (resource) => {
      const found = routes.filter((route) => route.resource === resource);
      expect(found).toHaveLength(1);
      expect(found[0]?.method).toBe('ANY');
      expect(Object.keys(httpHandlers)).toContain(found[0]?.handler);
      expect(typeof httpHandlers[found[0]?.handler ?? '']).toBe('function');
    },
  );

  it('declares no route that the protocol does not know', () => {
    expect(routes.map((route) => route.resource).sort()).toEqual([...PROTOCOL_RESOURCES].sort());
  });

  it('sends the exercise and task aliases to the same handlers', () => {
    const handlerOf = (resource: string): string | undefined => routes.find((r) => r.resource === resource)?.handler;
    expect(handlerOf('/tasks')).toBe(handlerOf('/exercises'));
    expect(handlerOf('/tasks/{hash+}')).toBe(handlerOf('/exercises/{hash+}'));
    expect(handlerOf('/exercises')).not.toBe(handlerOf('/exercises/{hash+}'));
  });
});

describe('matchRoute', () => {
  it('matches / to the status handler without path parameters', () => {
    const match = matchRoute(routes, '/');
    expect(match?.route.handler).toBe('functions/status.handler');
    expect(match?.pathParameters).toBeNull();
  });

  it.each<[string, string, string, Record<string, string>]>([
    ['/submissions/student_1', '/submissions/{id+}', 'functions/submissions.handler', { id: 'student_1' }],
    ['/submissions/a%2Fb', '/submissions/{id+}', 'functions/submissions.handler', { id: 'a/b' }],
    ['/submissions/a%20b', '/submissions/{id+}', 'functions/submissions.handler', { id: 'a b' }],
    ['/submission_archives/a.b.zip', '/submission_archives/{name+}', 'functions/archives.handler', { name: 'a.b.zip' }],
    ['/exercises/abc', '/exercises/{hash+}', 'functions/exercises.download', { hash: 'abc' }],
    ['/tasks/abc', '/tasks/{hash+}', 'functions/exercises.download', { hash: 'abc' }],
    ['/results/s1.zip', '/results/{name+}', 'functions/results.handler', { name: 's1.zip' }],
    ['/results/a/b', '/results/{name+}', 'functions/results.handler', { name: 'a/b' }],
    ['/attachments/x', '/attachments/{id+}', 'functions/attachments.handler', { id: 'x' }],
    ['/results/%2E%2E', '/results/{name+}', 'functions/results.handler', { name: '..' }],
    ['/results/%zz', '/results/{name+}', 'functions/results.handler', { name: '%zz' }],
  ])('matches %s to %s with decoded parameters', (path, resource, handler, params) => {
    const match = matchRoute(routes, path);
    expect(match?.route.resource).toBe(resource);
    expect(match?.route.handler).toBe(handler);
    expect(match?.pathParameters).toEqual(params);
  });

  it.each([['/exercises'], ['/tasks']])('matches the upload route %s without parameters', (path) => {
    const match = matchRoute(routes, path);
    expect(match?.route.resource).toBe(path);
    expect(match?.route.handler).toBe('functions/exercises.upload');
    expect(match?.pathParameters).toBeNull();
  });

  it('picks different routes for /exercises and /exercises/abc', () => {
    expect(matchRoute(routes, '/exercises')?.route.handler).toBe('functions/exercises.upload');
    expect(matchRoute(routes, '/exercises/abc')?.route.handler).toBe('functions/exercises.download');
  });

  it.each([
    ['/nope'],
    ['/nope/deeper'],
    ['/submissions'],
    ['/submissions/'],
    ['/results'],
    ['/results/'],
    ['/submission_archives'],
    ['/attachments/'],
    ['/exercises/'],
    ['/Submissions/x'],
  ])('finds no route for %s', (path) => {
    expect(matchRoute(routes, path)).toBeUndefined();
  });
});
