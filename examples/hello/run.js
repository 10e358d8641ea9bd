// A WebJobs-style triggered job: prints its arguments, a few WebJobs
// variables and a file shipped in its bundle.
import * as std from 'std';

console.log(`Hello from ${std.getenv('WEBJOBS_NAME')} (run ${std.getenv('WEBJOBS_RUN_ID')})`);
console.log('arguments: ' + JSON.stringify(scriptArgs.slice(1)));
console.log('message.txt says: ' + std.loadFile('message.txt').trim());
