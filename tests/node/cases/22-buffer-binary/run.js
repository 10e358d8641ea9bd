// Buffer's binary reads and writes, as protocol drivers use them.
const b = Buffer.alloc(32);
let o = 0;
o = b.writeUInt8(0xfe, o);
o = b.writeInt8(-2, o);
o = b.writeUInt16BE(0xbeef, o);
o = b.writeInt16LE(-1234, o);
o = b.writeUInt32BE(0xdeadbeef, o);
o = b.writeInt32LE(-123456789, o);
o = b.writeFloatBE(1.5, o);
o = b.writeDoubleLE(Math.PI, o);
console.log(o, b.toString('hex'));
console.log(b.readUInt8(0), b.readInt8(1), b.readUInt16BE(2), b.readInt16LE(4), b.readUInt32BE(6).toString(16), b.readInt32LE(10), b.readFloatBE(14), b.readDoubleLE(18));
const big = Buffer.alloc(8);
big.writeBigInt64BE(-5n);
console.log(big.readBigInt64BE(), big.readBigUInt64BE(), big.toString('hex'));
try { b.readUInt32BE(30); } catch (e) { console.log(e.code, e.name); }
const src = Buffer.from('hello world');
const dst = Buffer.alloc(8, '.');
console.log(src.copy(dst, 2, 6), dst.toString());
console.log(Buffer.compare(Buffer.from('a'), Buffer.from('b')), Buffer.from('b').compare(Buffer.from('a')), Buffer.from('ab').compare(Buffer.from('ab')));
const w = Buffer.alloc(10);
console.log(w.write('héllo', 1), w.write('zz', 8, 'latin1'), w.toString('hex'));
console.log(src.indexOf('o'), src.indexOf('o', 5), src.indexOf(Buffer.from('wor')), src.includes('xyz'), src.indexOf(0x6c));
