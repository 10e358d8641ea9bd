// An uncaught exception: Node's report on stderr, exit status 1.
console.log('before the error');
function fail() {
  throw new Error('something broke');
}
setTimeout(() => console.log('never printed'), 10);
fail();
