// ES modules keep working, including imports of core modules and
// top-level await.
import fs from 'fs';
import { join, basename } from 'node:path';
import { EventEmitter } from 'events';
import * as os from 'os';
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
await wait(10);
fs.writeFileSync('esm.txt', 'from an ES module');
console.log(fs.readFileSync('esm.txt', 'utf8'), join('a', 'b'), basename('/x/y.txt'));
const e = new EventEmitter();
e.on('ping', (v) => console.log('pong', v));
e.emit('ping', 1);
console.log('EOL is newline:', os.EOL === '\n');
