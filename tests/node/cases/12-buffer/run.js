// Buffer basics.
const a = Buffer.from('héllo wörld');
console.log(a.length, Buffer.byteLength('héllo wörld'), 'héllo wörld'.length);
console.log(a.toString('base64'), a.toString('hex'));
console.log(Buffer.from('aMOpbGxv', 'base64').toString('utf8'), Buffer.from('68656c6c6f', 'hex').toString());
const c = Buffer.concat([Buffer.from('ab'), Buffer.from('cd'), Buffer.from([101])]);
console.log(c.toString(), c, Buffer.isBuffer(c), Buffer.isBuffer('x'));
console.log(Buffer.alloc(3), Buffer.alloc(2, 7), c.slice(1, 3).toString());
console.log(JSON.stringify(Buffer.from('hi')), Buffer.from('xy').equals(Buffer.from('xy')));
