import assert from 'node:assert/strict';
import { DEFAULT_METRICS_PORT, formatMetricsAddress, MetricsAddressError, parseMetricsFlag } from '../../src/metrics/endpoint';

describe('metrics endpoint: --metrics', () => {
  it('absent or auto is auto (9464 when free, else a free port), off is off', () => {
    assert.deepEqual(parseMetricsFlag(undefined), { kind: 'auto' });
    assert.deepEqual(parseMetricsFlag('auto'), { kind: 'auto' });
    assert.deepEqual(parseMetricsFlag('off'), { kind: 'off' });
    assert.deepEqual(parseMetricsFlag(' OFF '), { kind: 'off' });
    assert.equal(DEFAULT_METRICS_PORT, 9464);
  });

  it('host:port with an IPv4 or a bracketed IPv6 address', () => {
    assert.deepEqual(parseMetricsFlag('127.0.0.1:9464'), { kind: 'fixed', host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseMetricsFlag('0.0.0.0:1'), { kind: 'fixed', host: '0.0.0.0', port: 1 });
    assert.deepEqual(parseMetricsFlag('[::1]:65535'), { kind: 'fixed', host: '::1', port: 65535 });
    assert.equal(formatMetricsAddress('::1', 9464), '[::1]:9464');
    assert.equal(formatMetricsAddress('127.0.0.1', 9464), '127.0.0.1:9464');
  });

  const refused: [string, RegExp][] = [
    ['', /is not host:port/],
    ['9464', /is not host:port/],
    ['127.0.0.1', /is not host:port/],
    ['::1:9464', /is not host:port/],
    ['http://127.0.0.1:9464', /is not host:port/],
    ['127.0.0.1:', /is not a port/],
    ['127.0.0.1:0', /is not a port/],
    ['127.0.0.1:65536', /is not a port/],
    ['127.0.0.1:94x4', /is not a port/],
    [':9464', /is not an IP address/],
    ['localhost:9464', /is not an IP address/],
    ['metrics.example.com:9464', /is not an IP address/],
    ['[localhost]:9464', /is not an IP address/],
  ];
  for (const [value, why] of refused) {
    it(`refuses ${JSON.stringify(value)} as bad input naming the flag and the fix`, () => {
      assert.throws(
        () => parseMetricsFlag(value),
        (e: unknown) =>
          e instanceof MetricsAddressError &&
          e.field === '--metrics' &&
          why.test(e.message) &&
          e.message.startsWith('--metrics: ') &&
          /— fix: .*(--metrics off|--metrics 127\.0\.0\.1:9464)/.test(e.message),
      );
    });
  }

  it('names 127.0.0.1 as the fix for localhost', () => {
    assert.throws(() => parseMetricsFlag('localhost:9100'), /fix: write --metrics 127\.0\.0\.1:9100/);
  });
});
