// Node's own cycle example: a requires b, b requires a (and gets a's
// unfinished exports).
console.log('main starting');
const a = require('./a.js');
const b = require('./b.js');
console.log('in main, a.done = %j, b.done = %j', a.done, b.done);
