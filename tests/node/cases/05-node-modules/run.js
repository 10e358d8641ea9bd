// Pure-JS packages shipped in the zip's node_modules/.
const padder = require('padder');
const greeting = require('greeting');
console.log('[' + padder.left('7', 3, '0') + ']');
console.log(greeting('wasmjobs'));
console.log(require.resolve('padder').endsWith('node_modules/padder/src/main.js'));
