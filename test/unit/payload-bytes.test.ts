import { payloadBytes } from '../../lib/local/server';

describe('payloadBytes: the size Lambda counts, without serialising a base64 body', () => {
  const cases: {
    name: string;
    payload: { body?: string | null; isBase64Encoded?: boolean; [key: string]: unknown };
  }[] = [
    {
      name: 'a base64 body',
      payload: { statusCode: 200, body: Buffer.from('héllo\n"x"').toString('base64'), isBase64Encoded: true },
    },
    { name: 'an empty base64 body', payload: { statusCode: 200, body: '', isBase64Encoded: true } },
    {
      name: 'a JSON body with quotes and non-ASCII',
      payload: { statusCode: 400, body: '{"error":"ünïcode \\" \\n"}' },
    },
    { name: 'no body', payload: { statusCode: 304, body: null, isBase64Encoded: false } },
    {
      name: 'headers that need escaping around a base64 body',
      payload: { headers: { 'X-A': 'quote " backslash \\ tab \t é' }, body: 'QUJD', isBase64Encoded: true, path: '/ü' },
    },
  ];
  it.each(cases)('matches JSON.stringify for $name', ({ payload }) => {
    expect(payloadBytes(payload)).toBe(Buffer.byteLength(JSON.stringify(payload)));
  });
});
