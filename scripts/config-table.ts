// Writes README.md's configuration reference table from the option table in src/config/options.ts
// (`npm run docs:config`); test/config.test.ts fails when the README and the options disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { configTable } from '../src/config.js';

const README = new URL('../README.md', import.meta.url);
const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

const text = readFileSync(README, 'utf8');
const from = text.indexOf(START);
const to = text.indexOf(END);
if (from < 0 || to < from) throw new Error(`README.md lacks the ${START} … ${END} markers`);
writeFileSync(
  README,
  `${text.slice(0, from + START.length)}\n\n${configTable()}\n\n${text.slice(to)}`,
);
