// os and path (posix).
const os = require('os');
const path = require('node:path');
console.log(JSON.stringify(os.EOL), typeof os.tmpdir(), typeof os.hostname(), typeof os.platform());
console.log(path.join('/a', 'b', '../c', './d'), path.join(''), path.normalize('a//b/../c/'));
console.log(path.resolve('/x/y', '../z'), path.relative('/a/b/c', '/a/d'));
console.log(path.dirname('/a/b/c.txt'), path.basename('/a/b/c.txt'), path.extname('c.tar.gz'), path.extname('.bashrc'));
console.log(path.parse('/home/u/file.txt'));
console.log(path.format({ dir: '/tmp', name: 'x', ext: '.js' }), path.isAbsolute('a/b'), path.sep, path.delimiter);
