#!/usr/bin/env node
'use strict';
// A clone runs the CLI from its TypeScript sources through tsx, so an old dist/ is never what runs;
// the installed package has no sources and runs the JavaScript that `npm pack` compiled into dist/.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const source = path.join(root, 'scripts', 'cli.ts');
const built = path.join(root, 'dist', 'scripts', 'cli.js');

function resolveTsx() {
  try {
    return require.resolve('tsx/cjs');
  } catch {
    return undefined;
  }
}

const tsx = fs.existsSync(source) ? resolveTsx() : undefined;
if (tsx) {
  require(tsx);
  require(source);
} else if (fs.existsSync(built)) {
  if (fs.existsSync(source))
    process.stderr.write('cutover: tsx is not installed, so this runs the build in dist/ (npm ci runs the sources)\n');
  require(built);
} else {
  process.stderr.write(
    'cutover: nothing to run: install the dev dependencies (npm ci) to run the sources, or build dist/ (npm run build)\n',
  );
  process.exit(1);
}
