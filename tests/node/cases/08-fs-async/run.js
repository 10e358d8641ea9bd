// fs callback and promise forms, util.promisify (the callback chain
// first, then the promise one: Node's own interleaving of the two depends
// on its thread pool).
const fs = require('fs');
const util = require('util');
fs.writeFile('cb.txt', 'callback data', (err) => {
  console.log('writeFile err:', err);
  fs.readFile('cb.txt', 'utf8', (err2, text) => {
    console.log('readFile:', err2, text);
    fs.readFile('missing.txt', (err3, d) => {
      console.log('missing:', err3.code, d);
      promises();
    });
  });
});
async function promises() {
  await fs.promises.writeFile('p.txt', 'promise data');
  await fs.promises.appendFile('p.txt', ' and more');
  console.log('promises:', await fs.promises.readFile('p.txt', 'utf8'));
  const st = await fs.promises.stat('p.txt');
  console.log('size:', st.size);
  try {
    await fs.promises.readFile('nope.txt');
  } catch (e) {
    console.log('rejected:', e.code);
  }
  const read = util.promisify(fs.readFile);
  console.log('promisified:', await read('p.txt', 'utf8'));
  const names = await require('fs/promises').readdir('.');
  console.log('has p.txt:', names.includes('p.txt'));
}
