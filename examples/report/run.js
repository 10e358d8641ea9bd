// Keeps a run counter in WEBJOBS_DATA_PATH (persistent across runs) and
// uses a helper module from its bundle.
import * as std from 'std';
import { summarize } from './lib/stats.js';

const counterFile = std.getenv('WEBJOBS_DATA_PATH') + '/runs.txt';
const previous = std.loadFile(counterFile);
const runs = (previous === null ? 0 : Number(previous)) + 1;
const f = std.open(counterFile, 'w');
f.puts(String(runs));
f.close();

console.log(`report run #${runs}`);
console.log(summarize([3, 1, 4, 1, 5, 9, 2, 6]));
