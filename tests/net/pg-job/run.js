// A job with a real npm client library: pg (node-postgres), installed by
// `npm install pg@8.13.1` (see PROVENANCE.md), against the server whose
// URL is its first argument.
const { Client } = require('pg');
(async () => {
  const client = new Client({ connectionString: process.argv[2] });
  await client.connect();
  const r = await client.query('SELECT 1 + $1::int AS n, $2::text AS s, $3::jsonb AS j', [41, 'hello', { a: [1, 2] }]);
  console.log(JSON.stringify(r.rows));
  const many = await client.query('SELECT g, md5(g::text) AS h FROM generate_series(1, 500) AS g');
  console.log(many.rowCount, many.rows[499].h);
  try {
    await client.query('SELECT * FROM no_such_table');
  } catch (e) {
    console.log(e.code, e.message);
  }
  await client.end();
  console.log('done');
})().catch((e) => { console.log('error', e.code, e.message); process.exit(1); });
