// `npm run chaos [-- --messages N --pairs N --relays N]`: the chaos run of test/chaos.test.ts,
// longer, with its counts printed (see test/helpers/chaos.ts).
import { parseArgs } from 'node:util';
import { runChaos } from '../test/helpers/chaos.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    pairs: { type: 'string', default: '50' },
    relays: { type: 'string', default: '3' },
    'wait-replicas': { type: 'string', default: '1' },
  },
});

const report = await runChaos({
  pairs: Number(values.pairs),
  messages: Number(values.messages),
  relays: Number(values.relays),
  killRelay: true,
  killMaster: true,
  waitReplicas: Number(values['wait-replicas']),
  log: (line) => console.log(line),
});
console.log(JSON.stringify({ ...report, lost: report.lost.slice(0, 50) }, null, 2));
const ok = report.duplicates === 0 && report.lost.length === 0 && report.leftInQueues === 0;
console.log(ok ? 'OK: nothing lost, nothing duplicated' : 'FAILED');
process.exit(ok ? 0 : 1);
