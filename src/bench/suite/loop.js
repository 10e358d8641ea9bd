// The same CPU-bound loop in every language of the suite.
let s = 0;
for (let i = 0; i < 1000000; i++) s = (s + i * i) % 1000003;
console.log('loop', s);
