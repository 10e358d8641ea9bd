// util.format/inspect/promisify and assert.
const util = require('util');
const assert = require('assert');
console.log(util.format('%s=%d', 'x', 5), util.format('no args'), util.format(1, 2, '3'));
console.log(util.inspect({ a: { b: { c: { d: 1 } } } }));
console.log(util.inspect({ a: { b: { c: { d: 1 } } } }, { depth: 0 }));
console.log(util.inspect('str'), util.inspect([1, [2]]));
const sleep = util.promisify((ms, cb) => setTimeout(() => cb(null, ms), ms));
sleep(5).then((ms) => console.log('promisified slept', ms));
assert.strictEqual(1, 1);
assert.deepStrictEqual({ a: [1, 2] }, { a: [1, 2] });
assert.ok(true);
assert(1);
assert.throws(() => { throw new TypeError('bad'); }, TypeError);
for (const f of [
  () => assert.strictEqual(1, 2),
  () => assert.deepStrictEqual({ a: 1 }, { a: 2 }, 'objects differ'),
  () => assert.ok(0, 'zero is falsy'),
  () => assert.throws(() => {}),
]) {
  try {
    f();
  } catch (e) {
    console.log(e.name, e.code, e.generatedMessage, '|', e.message.split('\n')[0]);
  }
}
console.log('isDeepStrictEqual:', util.isDeepStrictEqual([1, { a: 2 }], [1, { a: 2 }]), util.isDeepStrictEqual([1], ['1']));
