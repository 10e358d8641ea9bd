// HMAC, PBKDF2 and Web Crypto as drivers' logins use them (SCRAM).
const crypto = require('crypto');
console.log(crypto.createHmac('sha256', 'key').update('The quick brown fox ').update('jumps over the lazy dog').digest('hex'));
console.log(crypto.createHmac('sha1', Buffer.alloc(100, 7)).update('long key').digest('base64'));
console.log(crypto.createHmac('md5', '').digest('hex'));
console.log(crypto.pbkdf2Sync('password', 'salt', 4096, 32, 'sha256').toString('hex'));
console.log(crypto.pbkdf2Sync('pass', 'NaCl', 2, 40, 'sha1').toString('hex'));
console.log(crypto.timingSafeEqual(Buffer.from('abc'), Buffer.from('abc')), crypto.timingSafeEqual(Buffer.from('abc'), Buffer.from('abd')));
crypto.pbkdf2('pw', 'salt', 10, 16, 'sha256', (err, key) => console.log('async', err, key.toString('hex')));
(async () => {
  const subtle = globalThis.crypto.subtle;
  const hex = (b) => Buffer.from(b).toString('hex');
  console.log('digest', hex(await subtle.digest('SHA-256', new TextEncoder().encode('abc'))));
  const k = await subtle.importKey('raw', new TextEncoder().encode('key'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  console.log('sign', hex(await subtle.sign('HMAC', k, new TextEncoder().encode('message'))));
  const p = await subtle.importKey('raw', new TextEncoder().encode('pencil'), 'PBKDF2', false, ['deriveBits']);
  const bits = await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), iterations: 4096 }, p, 256);
  console.log('derive', Buffer.from(bits).toString('base64'));
  const r = globalThis.crypto.getRandomValues(new Uint8Array(12));
  console.log('random', r.length, r.constructor.name);
})();
