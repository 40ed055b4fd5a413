// bench_gpt3.js - npm gpt-3-encoder on the same review texts (comparison for
// bench/tokenizer/run.sh; not a test).
//   NODE_PATH=/tmp/gpt3enc/node_modules node bench_gpt3.js CSV COLUMN_INDEX [EVERY] [RUNS]
// Uses every EVERY-th text (default 1).
// Prints: texts bytes tokens runs_s median_s MB_per_s tokens_per_s.  The
// encoder's word cache is cleared between runs by reloading the module.
'use strict';
const fs = require('fs');
const [csvPath, colArg, everyArg, runsArg] = process.argv.slice(2);
const col = Number(colArg), every = Number(everyArg || 1), runs = Number(runsArg || 3);
function readCsv(path) {
  const s = fs.readFileSync(path, 'utf8');
  const rows = [];
  let row = [], field = '', i = 0, q = false;
  while (i < s.length) {
    const c = s[i];
    if (q) {
      if (c === '"' && s[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { q = false; i++; continue; }
      field += c; i++; continue;
    }
    if (c === '"' && field === '') { q = true; i++; continue; }
    if (c === ',') { row.push(field); field = ''; i++; continue; }
    if (c === '\n' || c === '\r') {
      if (c === '\r' && s[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = ''; i++; continue;
    }
    field += c; i++;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}
const texts = readCsv(csvPath).slice(1).map(r => r[col] || '').filter((_, i) => i % every === 0);
const bytes = texts.reduce((a, t) => a + Buffer.byteLength(t), 0);
const times = [];
let tokens = 0;
for (let r = 0; r < runs; r++) {
  const key = require.resolve('gpt-3-encoder/Encoder.js');
  delete require.cache[key];
  delete require.cache[require.resolve('gpt-3-encoder')];
  const { encode } = require('gpt-3-encoder');
  const t0 = process.hrtime.bigint();
  tokens = 0;
  for (const t of texts) tokens += encode(t).length;
  times.push(Number(process.hrtime.bigint() - t0) / 1e9);
}
const med = [...times].sort((a, b) => a - b)[Math.floor(runs / 2)];
console.log(`tool=gpt-3-encoder texts=${texts.length} bytes=${bytes} tokens=${tokens} runs_s=${times.map(x => x.toFixed(3)).join(',')} median_s=${med.toFixed(3)} MB_per_s=${(bytes / med / 1e6).toFixed(2)} tokens_per_s=${Math.round(tokens / med)}`);
