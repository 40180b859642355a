import { strict as assert } from 'node:assert';
import { replaceBenchmarkSection, sectionMarkers } from '../../bench/lib/report';

const PAGE = [
  '# Benchmarks',
  '',
  '## Routing',
  '',
  'Hand-written: what routing measures.',
  '',
  '<!-- bench:routing begin -->',
  '',
  '### dev server — 2026-01-01',
  'old routing figures',
  '',
  '<!-- bench:routing end -->',
  '',
  '## Campaign',
  '',
  '<!-- bench:campaign begin -->',
  '',
  'old 3,000-tenant figures',
  '',
  '<!-- bench:campaign end -->',
  '',
  '<!-- bench:campaign-10000x300 begin -->',
  '',
  'old 10,000-tenant figures',
  '',
  '<!-- bench:campaign-10000x300 end -->',
  '',
  'Hand-written: why the campaign spends its time where it does.',
  '',
].join('\n');

describe('benchmarks page: a run replaces its own section', () => {
  it('replaces the section of its key and nothing else', () => {
    const out = replaceBenchmarkSection(PAGE, 'routing', '### dev server — 2026-02-02\nnew routing figures\n');
    assert.ok(out.includes('new routing figures'));
    assert.ok(!out.includes('old routing figures'));
    assert.equal(out.split('<!-- bench:routing begin -->').length, 2, 'one routing section');
    for (const kept of [
      'Hand-written: what routing measures.',
      'old 3,000-tenant figures',
      'old 10,000-tenant figures',
      'Hand-written: why',
    ])
      assert.ok(out.includes(kept), kept);
  });

  it('keeps the sizes of one benchmark apart: the 10,000-tenant run does not touch the default size', () => {
    const out = replaceBenchmarkSection(PAGE, 'campaign-10000x300', 'new 10,000-tenant figures');
    assert.ok(out.includes('old 3,000-tenant figures'));
    assert.ok(out.includes('new 10,000-tenant figures') && !out.includes('old 10,000-tenant figures'));
  });

  it('is idempotent: the same run written twice leaves one section', () => {
    const once = replaceBenchmarkSection(PAGE, 'campaign', 'figures');
    assert.equal(replaceBenchmarkSection(once, 'campaign', 'figures'), once);
  });

  it('puts a new size after the last section of its benchmark, before the hand-written text that follows', () => {
    const out = replaceBenchmarkSection(PAGE, 'campaign-300x100', 'the 300-tenant figures');
    const at = out.indexOf('<!-- bench:campaign-300x100 begin -->');
    assert.ok(at > out.indexOf('<!-- bench:campaign-10000x300 end -->'));
    assert.ok(at < out.indexOf('Hand-written: why'));
  });

  it('appends a benchmark not on the page under its own heading, and starts an empty page with the title', () => {
    const out = replaceBenchmarkSection(PAGE, 'schedules', 'schedule figures');
    assert.ok(out.startsWith(PAGE.trimEnd()));
    assert.match(out, /## Schedules\n\n<!-- bench:schedules begin -->\n\nschedule figures\n\n<!-- bench:schedules end -->\n$/);
    const fresh = replaceBenchmarkSection('', 'routing', 'figures');
    assert.match(fresh, /^# Benchmarks\n/);
    assert.ok(fresh.includes('## Routing\n\n<!-- bench:routing begin -->'));
  });

  it('refuses a page whose section lost its end marker, instead of writing a second section', () => {
    const broken = PAGE.replace('<!-- bench:routing end -->', '');
    assert.throws(() => replaceBenchmarkSection(broken, 'routing', 'figures'), /bench:routing end/);
  });

  it('refuses a key that could not be found again on the page', () => {
    assert.throws(() => sectionMarkers('Campaign 10000'), /benchmark section key "Campaign 10000"/);
  });
});
