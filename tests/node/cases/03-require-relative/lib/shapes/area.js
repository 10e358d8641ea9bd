module.exports = { area: ({ w, h }) => w * h };
