// crypto.createHash (sha256, sha1, md5) and randomUUID.
const crypto = require('crypto');
for (const alg of ['sha256', 'sha1', 'md5']) {
  console.log(alg, crypto.createHash(alg).update('The quick brown fox').update(' jumps over the lazy dog').digest('hex'));
}
console.log('empty', crypto.createHash('sha256').update('').digest('base64'));
console.log('buffer', crypto.createHash('md5').update(Buffer.from([1, 2, 3])).digest('hex'));
const long = 'x'.repeat(1000);
console.log('long', crypto.createHash('sha1').update(long).digest('hex'));
const id = crypto.randomUUID();
console.log('uuid v4:', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id), id === crypto.randomUUID());
