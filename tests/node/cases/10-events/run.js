// EventEmitter.
const EventEmitter = require('events');
class Job extends EventEmitter {
  run() {
    this.emit('start', 'job-1');
    this.emit('progress', 50);
    this.emit('progress', 100);
    this.emit('done');
  }
}
const j = new Job();
j.on('start', (id) => console.log('started', id));
j.once('progress', (p) => console.log('first progress', p));
const every = (p) => console.log('progress', p);
j.on('progress', every);
j.on('done', function () { console.log('done; this is the emitter:', this === j); });
console.log('listeners:', j.listenerCount('progress'), j.eventNames());
j.run();
j.off('progress', every);
console.log('after off:', j.listenerCount('progress'), j.emit('progress', 1));
try {
  j.emit('error', new Error('bad thing'));
} catch (e) {
  console.log('unhandled error event throws:', e.message);
}
const { once } = require('events');
once(j, 'later').then(([v]) => console.log('once promise:', v));
setTimeout(() => j.emit('later', 42), 5);
