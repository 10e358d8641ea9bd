// A job that never ends: the host stops it when its time limit runs out.
console.log('spinning forever...');
while (true) {}
