const path = require('path');
exports.loads = (exports.loads || 0) + 1;
exports.NAME = 'util';
exports.shout = (s) => s.toUpperCase() + '!';
exports.dir = path.basename(__dirname);
