/**
 * The layers' import directions are enforced by lint: a file that imports against them fails `npm run lint`.
 * Each case lints a probe's text under a path inside the layer, with the project's own config. Nothing is
 * written to src/: other tests running beside this one hash src/ (the workflow bundle cache), and a probe
 * file there changed their key mid-test. The layer rule reads only the path and the imports, so the probe
 * is parsed without type information (the project service would need the file on disk) and the one
 * type-aware rule is off for it.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { ESLint } from 'eslint';

const ROOT = path.resolve(__dirname, '..', '..');

const linter = new ESLint({
  cwd: ROOT,
  overrideConfig: {
    languageOptions: { parserOptions: { projectService: false } },
    rules: { '@typescript-eslint/no-floating-promises': 'off' },
  },
});

async function ruleIdsFor(folder: string, source: string): Promise<string[]> {
  const filePath = path.join(ROOT, 'src', folder, 'layering-probe.ts');
  const [result] = await linter.lintText(source, { filePath });
  return result!.messages.map((m) => m.ruleId ?? m.message);
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
