// The event loop: timers, intervals, immediates, promises and async/await;
// the run ends when nothing is left, as in Node. (Gaps of 20 ms or more,
// so a busy machine cannot reorder them.)
const order = [];
const log = (s) => { order.push(s); console.log(s); };
setTimeout(() => log('timeout 120'), 120);
setTimeout(() => log('timeout 40'), 40);
const cancelled = setTimeout(() => log('never'), 5);
clearTimeout(cancelled);
let n = 0;
const iv = setInterval(() => {
  n++;
  log('interval ' + n);
  if (n === 3) clearInterval(iv);
}, 50);
setImmediate(() => log('immediate'));
Promise.resolve().then(() => log('microtask'));
(async () => {
  log('async start');
  await new Promise((r) => setTimeout(r, 200));
  log('async after 200');
  const v = await Promise.all([1, Promise.resolve(2), new Promise((r) => setTimeout(() => r(3), 20))]);
  log('all: ' + v.join(','));
})();
log('sync done');
process.on('exit', () => console.log('events:', order.length));
