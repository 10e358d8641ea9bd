// CommonJS: relative files, .json, folders with index.js or package.json
// main, module.exports vs exports, __dirname/__filename, the cache.
const path = require('path');
const util = require('./lib/util');
const again = require('./lib/util.js');
const data = require('./lib/data.json');
const shapes = require('./lib/shapes');
const counter = require('./lib/counter');
console.log(util.shout('hello'), util.NAME);
console.log('same object from the cache:', util === again, 'loads:', util.loads);
console.log('json:', data);
console.log('folder via package.json main:', shapes.area({ w: 2, h: 3 }));
console.log('counter:', counter.next(), counter.next(), require('./lib/counter').next());
console.log('__filename:', path.basename(__filename), '__dirname is absolute:', path.isAbsolute(__dirname));
console.log('module.id of main:', module.id, 'require.main === module:', require.main === module);
console.log('lib sees its own dirname:', util.dir);
try {
  require('./lib/missing');
} catch (e) {
  console.log('missing module:', e.code, e.message.split('\n')[0]);
}
