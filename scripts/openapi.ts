// Writes docs/openapi.json (`npm run docs:openapi`): the document a relay serves at
// GET /openapi.json, taken from a relay started on the memory store. test/docs.test.ts fails
// when the committed file and the routes disagree.
import { writeFileSync } from 'node:fs';
import { openApiDocument } from './openapi-document.js';

const OUT = new URL('../docs/openapi.json', import.meta.url);
writeFileSync(OUT, `${JSON.stringify(await openApiDocument(), null, 2)}\n`);
