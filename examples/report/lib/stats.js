export function summarize(xs) {
  const sum = xs.reduce((a, b) => a + b, 0);
  return `n=${xs.length} sum=${sum} mean=${(sum / xs.length).toFixed(2)} max=${Math.max(...xs)}`;
}
