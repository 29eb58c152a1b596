/**
 * The check of `npm run test:deployed` that the dashboard plots only emitted metrics (test/deployed/dashboard-check.ts),
 * on small cases: it must find a plotted metric that nothing emitted, or it proves nothing.
 */
import { notEmitted, plottedMetrics } from '../deployed/dashboard-check';
import type { EmittedMetric } from '../support/emf';

const NS = 'recodex-fileserver/dev';
const search = (schema: string, terms: string, stat = 'Sum') => [
  { expression: `SEARCH('{${schema}} ${terms}', '${stat}', 300)`, id: 'e' },
];
const body = (...metrics: unknown[][]) => ({ widgets: [{ type: 'metric', properties: { title: 'w', metrics } }] });

const emitted: Pick<EmittedMetric, 'namespace' | 'name' | 'dimensions'>[] = [
  { namespace: NS, name: 'Requests', dimensions: { Route: 'exercise', StatusClass: '2xx' } },
  { namespace: NS, name: 'Requests', dimensions: { Route: 'results', StatusClass: '4xx' } },
  { namespace: NS, name: 'CacheHits', dimensions: { Route: 'exercise' } },
  { namespace: NS, name: 'ArchiveBuilds', dimensions: {} },
];

it('reads searches and plain metrics, and ignores metric math and AWS namespaces', () => {
  const plotted = plottedMetrics(
    body(
      search(`"${NS}",Route,StatusClass`, 'MetricName="Requests" StatusClass="4xx"'),
      [NS, 'CacheHits', 'Route', 'exercise', { stat: 'Sum', id: 'h' }],
      [{ expression: '100 * h', id: 'r' }],
      ['AWS/Lambda', 'Throttles', 'FunctionName', 'f', { stat: 'Sum' }],
    ),
  );
  expect(plotted.map(({ namespace, name, dimensions }) => ({ namespace, name, dimensions }))).toEqual([
    { namespace: NS, name: 'Requests', dimensions: { Route: undefined, StatusClass: '4xx' } },
    { namespace: NS, name: 'CacheHits', dimensions: { Route: 'exercise' } },
    { namespace: 'AWS/Lambda', name: 'Throttles', dimensions: { FunctionName: 'f' } },
  ]);
  expect(notEmitted(plotted, emitted, NS)).toEqual([]);
});

it.each([
  ['a value nothing had', search(`"${NS}",Route,StatusClass`, 'MetricName="Requests" StatusClass="5xx"')],
  ['a name nothing had', search(`"${NS}",Route`, 'MetricName="S3Requests"')],
  ['other dimensions than emitted', search(`"${NS}",Route`, 'MetricName="Requests"')],
  ['a metric without the dimension it was emitted with', [NS, 'CacheHits', { stat: 'Sum' }]],
  ['a dimension value never emitted', [NS, 'CacheHits', 'Route', 'results', { stat: 'Sum' }]],
  ['another namespace', search('"recodex-fileserver/prod",Route,StatusClass', 'MetricName="Requests"')],
])('reports %s as not emitted', (_what, metric) => {
  const plotted = plottedMetrics(body(metric as unknown[]));
  const namespace = plotted[0]?.namespace ?? NS;
  expect(notEmitted(plotted, emitted, namespace)).toHaveLength(1);
});

it('refuses a search it cannot read, rather than passing it', () => {
  expect(() => plottedMetrics(body(search(`"${NS}",Route`, 'Route="x"')))).toThrow(
    'without a namespace or a MetricName',
  );
  expect(() => plottedMetrics(body(search(`"${NS}",Route`, 'Requests')))).toThrow('cannot read');
  expect(() => plottedMetrics(body([{ expression: "SEARCH('Requests', 'Sum')", id: 'x' }]))).toThrow('cannot read');
});
