// process: argv, env, exitCode, cwd, hrtime, nextTick, stdout/stderr.write, 'exit'.
console.log('args:', process.argv.slice(2));
console.log('argv[0]:', require('path').basename(process.argv[0]), 'script:', require('path').basename(process.argv[1]));
console.log('env:', process.env.CASE_VAR, typeof process.env.NOT_SET);
console.log('cwd is the script folder:', process.cwd() === __dirname);
const t = process.hrtime();
console.log('hrtime:', Array.isArray(t), t.length, typeof process.hrtime.bigint());
console.log('version looks like node:', /^v\d+\.\d+\.\d+$/.test(process.version));
process.stdout.write('written without newline, ');
process.stdout.write('then with one\n');
process.stderr.write('stderr via write\n');
process.stdout.write(Buffer.from('bytes as they are\n'));
process.stdout.write('with a callback\n', () => console.log('write callback ran'));
process.nextTick(() => console.log('tick 1'));
Promise.resolve().then(() => console.log('promise 1'));
process.nextTick(() => console.log('tick 2'));
console.log('sync end');
process.on('exit', (code) => {
  console.log('exit event with code', code);
});
process.exitCode = 0;
