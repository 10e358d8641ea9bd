// An error thrown in a timer is uncaught; 'uncaughtException' can take it.
process.on('uncaughtException', (e) => {
  console.log('caught:', e.message);
  process.exitCode = 4;
});
setTimeout(() => {
  throw new Error('from a timer');
}, 5);
setTimeout(() => console.log('later timer still runs'), 20);
