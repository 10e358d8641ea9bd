// process.exit(n) ends the run with n at once; 'exit' listeners run.
process.on('exit', (code) => console.log('exiting with', code));
setTimeout(() => {
  console.log('timer ran');
  process.exit(3);
}, 5);
setTimeout(() => console.log('never printed'), 200);
