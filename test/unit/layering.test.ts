/**
 * The layers' import directions are enforced by lint: a file that imports against them fails `npm run lint`.
 * Each case writes a real file into the layer (the type-aware lint needs it on disk), lints it, removes it.
 */
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ESLint } from 'eslint';

const ROOT = path.resolve(__dirname, '..', '..');

async function ruleIdsFor(folder: string, source: string): Promise<string[]> {
  const file = path.join(ROOT, 'src', folder, `layering-probe-${randomUUID().slice(0, 8)}.ts`);
  fs.writeFileSync(file, source);
  try {
    const [result] = await new ESLint({ cwd: ROOT }).lintFiles([file]);
    return result!.messages.map((m) => m.ruleId ?? m.message);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

describe('layering (lint)', function () {
  this.timeout(120_000);

  const refused: [string, string][] = [
    ['routing', "import { Mutex as _x } from '../workflows/mutex';\n"],
    ['config', "import type { RoutedClient as _x } from '../routing/client';\n"],
    ['domain', "import type { Plan as _x } from '../config/types';\n"],
    ['gates', "import type { Activities as _x } from '../activities';\n"],
    ['campaign', "import { getStatus as _x } from '../cockpit/status';\n"],
    ['activities', "import { Mutex as _x } from '../workflows/mutex';\n"],
    ['security', "import type { RoutedClient as _x } from '../routing/client';\n"],
    ['config', "import type { EncryptionCodec as _x } from '../security/codec';\n"],
  ];
  for (const [folder, source] of refused) {
    it(`refuses ${source.trim()} in src/${folder}`, async () => {
      assert.ok((await ruleIdsFor(folder, source)).includes('import-x/no-restricted-paths'));
    });
  }

  it('accepts imports that follow the layers (routing → domain, activities → workflow messages)', async () => {
    assert.deepEqual(await ruleIdsFor('routing', "import type { UnitRef as _x } from '../domain/ids';\n"), []);
    assert.deepEqual(await ruleIdsFor('activities', "import * as _m from '../workflows/unit-migration.messages';\n"), []);
  });
});
