// One download of 10 MiB from the bench's loopback server, streamed.
(async () => {
  const r = await fetch(`${BASE}/10m`);
  if (!r.ok) throw new Error(`status ${r.status}`);
  let n = 0;
  for await (const chunk of r.body) n += chunk.length;
  if (n !== 10 << 20) throw new Error(`got ${n} bytes`);
  console.log('downloaded 10 MiB');
})();
