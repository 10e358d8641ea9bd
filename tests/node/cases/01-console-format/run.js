// console.* with util.format's rules; warn and error go to stderr.
console.log('plain string');
console.log('%s is %d years and %i days, %f%%', 'Ada', 36.5, 12.9, 1.5);
console.log('json %j and object %o and %O', { a: [1, 2] }, { b: 'x' }, { c: { d: 1 } });
console.log('extra', 'args', 1, true, null, undefined, { k: 'v' });
console.log({ name: 'job', count: 3, tags: ['a', 'b'], nested: { deep: { deeper: { deepest: 1 } } } });
console.log([1, 'two', [3, [4, [5, [6]]]], { seven: 7 }]);
console.log(new Map([['a', 1], ['b', { c: 2 }]]), new Set(['x', 'y']));
console.log([], {}, [undefined, null], -0, 10n, Symbol('s'));
console.log(function named() {}, () => {}, class Thing {}, Object.create(null));
class Point { constructor() { this.x = 1; this.y = 2; } }
console.log(new Point(), [new Point()]);
console.log({ 'key-with-dash': 1, valid_id: 2, "it's": "quote's", both: `'"` });
console.log('multi\nline', ['multi\nline']);
console.log({ long1: 'aaaaaaaaaaaaaaaaaaaa', long2: 'bbbbbbbbbbbbbbbbbbbb', long3: 'cccccccccccccccccccc', long4: 'dd' });
console.info('info goes to stdout');
console.debug('debug goes to stdout');
console.warn('warn goes to stderr', { level: 'warn' });
console.error('error goes to stderr: %s', 'details');
console.log('%s', { obj: true }, '%d', 'NaN?');
console.log('100%% done', 'and %s literal');
