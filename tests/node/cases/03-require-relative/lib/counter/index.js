let n = 0;
module.exports = { next: () => ++n };
