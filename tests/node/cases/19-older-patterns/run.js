// Older Node idioms: util.inherits with EventEmitter.call, promisified
// setTimeout, assert.throws validators, unref'd timers, a JSON file with a
// byte-order mark, realpath.
const EventEmitter = require('events');
const util = require('util');
const assert = require('assert');
const fs = require('fs');
function Queue() {
  EventEmitter.call(this);
  this.items = [];
}
util.inherits(Queue, EventEmitter);
Queue.prototype.push = function (x) { this.items.push(x); this.emit('pushed', x); };
const q = new Queue();
q.on('pushed', (x) => console.log('pushed', x));
q.push('a');
console.log('instanceof:', q instanceof EventEmitter, 'super_:', Queue.super_ === EventEmitter);
assert.throws(() => { throw new Error('bad input'); }, (e) => e.message === 'bad input');
assert.throws(() => { throw Object.assign(new Error('x'), { code: 'E1' }); }, { code: 'E1', message: /x/ });
try {
  assert.throws(() => { throw new Error('y'); }, (e) => e.message === 'z');
} catch (e) {
  console.log('validator failed:', e.code);
}
assert.doesNotThrow(() => 1);
assert.notDeepEqual({ a: 1 }, { a: 2 });
assert.ifError(null);
console.log('config:', require('./config.json'));
console.log('realpath is absolute:', fs.realpathSync('.').startsWith('/'));
console.log('allocUnsafe length:', Buffer.allocUnsafe(4).length);
const sleep = util.promisify(setTimeout);
setInterval(() => console.log('never: unref'), 1000).unref();
sleep(20, 'slept').then((v) => console.log(v));
