// 100 sequential fetches of 1 KiB from the bench's loopback server.
(async () => {
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${BASE}/1k`);
    if (!r.ok) throw new Error(`status ${r.status}`);
    await r.arrayBuffer();
  }
  console.log('fetched 100 × 1 KiB');
})();
