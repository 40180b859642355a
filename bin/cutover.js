#!/usr/bin/env node
'use strict';
// The CLI runs from TypeScript sources through tsx (no build step to forget).
require('tsx/cjs');
require('../scripts/cli.ts');
