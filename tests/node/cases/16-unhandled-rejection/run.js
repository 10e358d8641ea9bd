// An unhandled rejection ends the run with status 1, after the sync code.
console.log('start');
async function job() {
  await null;
  throw new RangeError('out of range');
}
job();
console.log('still synchronous');
setTimeout(() => console.log('never printed'), 50);
