// fs, sync API: write/append/read/exists/stat/readdir/mkdir/rm/rename,
// and its errors.
const fs = require('fs');
fs.mkdirSync('out/a/b', { recursive: true });
fs.writeFileSync('out/a/one.txt', 'one\n');
fs.appendFileSync('out/a/one.txt', 'two\n');
fs.writeFileSync('out/a/b/data.bin', Buffer.from([0, 1, 2, 255]));
console.log(JSON.stringify(fs.readFileSync('out/a/one.txt', 'utf8')));
console.log(fs.readFileSync('out/a/b/data.bin'));
console.log('exists:', fs.existsSync('out/a/one.txt'), fs.existsSync('out/nope'));
const st = fs.statSync('out/a/one.txt');
console.log('stat:', st.size, st.isFile(), st.isDirectory(), fs.statSync('out/a').isDirectory());
console.log('readdir:', fs.readdirSync('out/a'));
console.log('types:', fs.readdirSync('out/a', { withFileTypes: true }).map((d) => `${d.name}:${d.isDirectory() ? 'dir' : 'file'}`));
fs.renameSync('out/a/one.txt', 'out/a/uno.txt');
console.log('after rename:', fs.readdirSync('out/a'));
fs.unlinkSync('out/a/uno.txt');
fs.rmSync('out', { recursive: true });
console.log('removed:', fs.existsSync('out'));
for (const f of [() => fs.readFileSync('missing.txt'), () => fs.mkdirSync('run.js'), () => fs.readdirSync('run.js'), () => fs.rmSync('nothing-here')]) {
  try {
    f();
  } catch (e) {
    console.log(e.code, '|', e.message, '|', e.syscall);
  }
}
console.log('statSync without throwing:', fs.statSync('nope', { throwIfNoEntry: false }));
