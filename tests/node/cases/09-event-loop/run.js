// The event loop: timers, intervals, immediates, promises and async/await;
// the run ends when nothing is left, as in Node.
const order = [];
const log = (s) => { order.push(s); console.log(s); };
setTimeout(() => log('timeout 30'), 30);
setTimeout(() => log('timeout 10'), 10);
const cancelled = setTimeout(() => log('never'), 5);
clearTimeout(cancelled);
let n = 0;
const iv = setInterval(() => {
  n++;
  log('interval ' + n);
  if (n === 3) clearInterval(iv);
}, 12);
setImmediate(() => log('immediate'));
Promise.resolve().then(() => log('microtask'));
(async () => {
  log('async start');
  await new Promise((r) => setTimeout(r, 50));
  log('async after 50');
  const v = await Promise.all([1, Promise.resolve(2), new Promise((r) => setTimeout(() => r(3), 5))]);
  log('all: ' + v.join(','));
})();
log('sync done');
process.on('exit', () => console.log('events:', order.length));
