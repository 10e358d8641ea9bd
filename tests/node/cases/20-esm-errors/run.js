// An ES module with top-level await whose timer throws: an uncaught
// error, Node's report, status 1; import.meta.url names the file.
import path from 'node:path';
console.log('module:', import.meta.url.startsWith('file:///'), path.basename(import.meta.url));
await new Promise((r) => setTimeout(r, 10));
console.log('after await');
setTimeout(() => {
  throw new TypeError('late failure');
}, 10);
