// wasmjobs JS guest: the Node.js-compatible surface (issue 7), evaluated
// once at start as a global script, before the job's script. Node's own
// semantics are the reference: `process`, `console` with util.format,
// CommonJS `require` (relative files, JSON, folders, node_modules, cycles),
// core modules (fs, path, os, util, events, assert, timers, buffer,
// crypto), timers on the guest's event loop, and Node-style reports of
// uncaught errors. Modules the sandbox cannot offer throw on require.
//
// The C side (main.c) gives `__wasmjobs` = { compile(source, filename),
// random(n), net: the host's sockets (node/net.js) } and calls back: __wasmjobs_runMain(file, wrapper), __wasmjobs_rejection(promise,
// reason, handled), __wasmjobs_tick() -> exit code or -1,
// __wasmjobs_fatal(error) -> exit code, __wasmjobs_beforeExit() -> code,
// __wasmjobs_esmSource(name) -> ES module source of a core module.
(function () {
  'use strict';
  const std = globalThis.std;
  const os = globalThis.os;
  const native = globalThis.__wasmjobs;
  delete globalThis.__wasmjobs;
  const NODE_VERSION = 'v20.20.2';

  // ---------- util.inspect / util.format (Node's rules, the common cases)
  const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;  // Node quotes other keys ('$a')
  const EXPORTABLE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
  function quote(s) {
    let q = "'";
    if (s.includes("'")) {
      if (!s.includes('"')) q = '"';
      else if (!s.includes('`') && !s.includes('${')) q = '`';
    }
    const esc = s.replace(/[\\\n\t\r\b\f\v\0]/g, (c) => ({
      '\\': '\\\\', '\n': '\\n', '\t': '\\t', '\r': '\\r', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\0': '\\x00',
    })[c]);
    return q + (q === "'" ? esc.replace(/'/g, "\\'") : esc) + q;
  }
  function fnName(f) {
    const src = Function.prototype.toString.call(f);
    if (src.startsWith('class')) return `[class ${f.name || '(anonymous)'}]`;
    const kind = src.startsWith('async') ? 'AsyncFunction' : (/^function\s*\*/.test(src) ? 'GeneratorFunction' : 'Function');
    return f.name ? `[${kind}: ${f.name}]` : `[${kind} (anonymous)]`;
  }
  function keyText(k) {
    if (typeof k === 'symbol') return `[${k.toString()}]`;
    return IDENT.test(k) ? k : quote(k);
  }
  function formatPrimitive(v) {
    switch (typeof v) {
      case 'string': return quote(v);
      case 'number': return Object.is(v, -0) ? '-0' : String(v);
      case 'bigint': return `${v}n`;
      case 'symbol': return v.toString();
      case 'undefined': return 'undefined';
      case 'boolean': return String(v);
      default: return v === null ? 'null' : String(v);
    }
  }
  function inspect(value, opts) {
    const ctx = Object.assign({ depth: 2, seen: [], indentationLvl: 0, currentDepth: 0, breakLength: 80, compact: 3 }, opts || {});
    if (ctx.depth === null) ctx.depth = Infinity;
    return formatValue(ctx, value, 0);
  }
  function formatValue(ctx, v, recurseTimes) {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return formatPrimitive(v);
    if (ctx.seen.includes(v)) return '[Circular *1]';
    const custom = v[inspect.custom];
    if (typeof custom === 'function') {
      const r = custom.call(v, ctx.depth - recurseTimes, ctx, inspect);
      if (r !== v) return typeof r === 'string' ? r : formatValue(ctx, r, recurseTimes);
    }
    return formatRaw(ctx, v, recurseTimes);
  }
  function ctorName(v) {
    const proto = Object.getPrototypeOf(v);
    if (proto === null) return null;
    const c = proto.constructor;
    return typeof c === 'function' && c.name ? c.name : 'Object';
  }
  function formatRaw(ctx, v, recurseTimes) {
    const name = ctorName(v);
    let braces;
    let base = '';
    let entries = [];
    let extrasArray = false;
    const keys = Object.keys(v);
    let ownKeys = keys;
    if (Array.isArray(v)) {
      extrasArray = true;
      const prefix = name === 'Array' ? '' : `${name}(${v.length}) `;
      braces = [`${prefix}[`, ']'];
      if (v.length === 0 && keys.length === 0) return `${braces[0]}]`;
      ownKeys = keys.filter((k) => !(String(k >>> 0) === k && (k >>> 0) < v.length));
      entries = () => {
        const out = [];
        let holes = 0;
        for (let i = 0; i < v.length; i++) {
          if (!Object.prototype.hasOwnProperty.call(v, i)) { holes++; continue; }
          if (holes) { out.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`); holes = 0; }
          out.push(formatValue(ctx, v[i], recurseTimes + 1));
          if (out.length >= 100) { out.push(`... ${v.length - i - 1} more item${v.length - i - 1 > 1 ? 's' : ''}`); break; }
        }
        if (holes) out.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`);
        return out;
      };
    } else if (typeof v === 'function') {
      base = fnName(v);
      if (keys.length === 0) return base;
      braces = ['{', '}'];
    } else if (v instanceof Map) {
      braces = [`${name}(${v.size}) {`, '}'];
      if (v.size === 0 && keys.length === 0) return `${braces[0]}}`;
      entries = () => [...v].map(([k, x]) => `${formatValue(ctx, k, recurseTimes + 1)} => ${formatValue(ctx, x, recurseTimes + 1)}`);
    } else if (v instanceof Set) {
      braces = [`${name}(${v.size}) {`, '}'];
      if (v.size === 0 && keys.length === 0) return `${braces[0]}}`;
      entries = () => [...v].map((x) => formatValue(ctx, x, recurseTimes + 1));
    } else if (v instanceof Error) {
      base = v.stack ? `${v.name}: ${v.message}\n${String(v.stack).replace(/\n$/, '')}` : `[${v.name}: ${v.message}]`;
      if (keys.length === 0) return base;
      braces = ['{', '}'];
    } else if (v instanceof Date) {
      base = isNaN(v) ? 'Invalid Date' : v.toISOString();
      if (keys.length === 0) return base;
      braces = ['{', '}'];
    } else if (v instanceof RegExp) {
      base = String(v);
      if (keys.length === 0) return base;
      braces = ['{', '}'];
    } else if (v instanceof Promise) {
      braces = ['Promise {', '}'];
      entries = () => ['<pending>'];
    } else if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const n = v.constructor.name;
      braces = [`${n}(${v.length}) [`, ']'];
      if (v.length === 0) return `${braces[0]}]`;
      ownKeys = [];
      entries = () => Array.from(v.slice(0, 100), (x) => formatPrimitive(x)).concat(v.length > 100 ? [`... ${v.length - 100} more items`] : []);
    } else if (v instanceof String || v instanceof Number || v instanceof Boolean) {
      const t = v instanceof String ? 'String' : v instanceof Number ? 'Number' : 'Boolean';
      base = `[${t}: ${formatPrimitive(v.valueOf())}]`;
      if (v instanceof String) ownKeys = keys.filter((k) => !(String(k >>> 0) === k && (k >>> 0) < v.length));
      if (ownKeys.length === 0) return base;
      braces = ['{', '}'];
    } else {
      const tag = v[Symbol.toStringTag];
      const prefix = name === null ? '[Object: null prototype] ' : name !== 'Object' ? `${name} ` : '';
      const tagText = typeof tag === 'string' && tag !== '' && tag !== name ? `[${tag}] ` : '';
      braces = [`${prefix}${tagText}{`, '}'];
      if (keys.length === 0 && Object.getOwnPropertySymbols(v).length === 0) {
        return `${prefix}${tagText}{}`;
      }
    }
    if (recurseTimes > ctx.depth) {
      if (Array.isArray(v)) return '[Array]';
      return `[${name === null ? 'Object: null prototype' : name}]`;
    }
    ctx.seen.push(v);
    ctx.currentDepth = recurseTimes;
    let output = typeof entries === 'function' ? entries() : [];
    const symbols = Object.getOwnPropertySymbols(v).filter((s) => Object.prototype.propertyIsEnumerable.call(v, s));
    for (const k of [...ownKeys, ...symbols]) {
      const d = Object.getOwnPropertyDescriptor(v, k);
      let text;
      if (d.get || d.set) text = d.get && d.set ? '[Getter/Setter]' : d.get ? '[Getter]' : '[Setter]';
      else {
        ctx.indentationLvl += 2;
        text = formatValue(ctx, d.value, recurseTimes + 1);
        ctx.indentationLvl -= 2;
      }
      output.push(`${keyText(k)}: ${text}`);
    }
    ctx.seen.pop();
    if (base) {
      if (braces[0] === '{') braces[0] = `${base} {`;
      base = '';
    }
    return reduceToSingleString(ctx, output, base, braces, extrasArray, recurseTimes);
  }
  function reduceToSingleString(ctx, output, base, braces, extrasArray, recurseTimes) {
    const entries = output.length;
    if (ctx.currentDepth - recurseTimes < ctx.compact && entries === output.length) {
      const start = output.length + ctx.indentationLvl + braces[0].length + base.length + 10;
      const total = output.reduce((n, s) => n + s.length, 0) + output.length;
      if (total + start <= ctx.breakLength && !output.some((s) => s.includes('\n'))) {
        return `${base ? `${base} ` : ''}${braces[0]} ${output.join(', ')} ${braces[1]}`;
      }
    }
    const ind = `\n${' '.repeat(ctx.indentationLvl)}`;
    return `${base ? `${base} ` : ''}${braces[0]}${ind}  ${output.join(`,${ind}  `)}${ind}${braces[1]}`;
  }
  inspect.custom = Symbol.for('nodejs.util.inspect.custom');

  function format(...args) {
    if (args.length === 0) return '';
    const first = args[0];
    let i = 1;
    let out = '';
    if (typeof first === 'string') {
      if (args.length === 1) return first;
      let last = 0;
      for (let p = 0; p < first.length - 1; p++) {
        if (first[p] !== '%') continue;
        const c = first[p + 1];
        if (c === '%') { out += first.slice(last, p) + '%'; last = p + 2; p++; continue; }
        if (i >= args.length || !'sdifjoOc'.includes(c)) continue;
        const a = args[i];
        let r;
        switch (c) {
          case 's':
            if (typeof a === 'bigint') r = `${a}n`;
            else if (typeof a === 'number') r = Object.is(a, -0) ? '-0' : String(a);
            else if (typeof a === 'object' && a !== null) r = inspect(a, { depth: 0 });
            else r = String(a);
            break;
          case 'd': r = typeof a === 'bigint' ? `${a}n` : typeof a === 'object' && a !== null ? 'NaN' : formatPrimitive(Number(a)); break;
          case 'i': r = typeof a === 'bigint' ? `${a}n` : String(parseInt(a)); break;
          case 'f': r = String(parseFloat(a)); break;
          case 'j': try { r = JSON.stringify(a); } catch (e) { r = '[Circular]'; } break;
          case 'o': r = inspect(a, { depth: 4 }); break;
          case 'O': r = inspect(a); break;
          case 'c': r = ''; break;
        }
        out += first.slice(last, p) + r;
        last = p + 2;
        p++;
        i++;
      }
      out += first.slice(last);
    } else {
      out = typeof first === 'string' ? first : inspect(first);
    }
    for (; i < args.length; i++) {
      const a = args[i];
      out += ' ' + (typeof a === 'string' ? a : inspect(a));
    }
    return out;
  }

  // ---------- process
  // Set for each run by __wasmjobs_start (the prelude is evaluated once,
  // into the guest's memory image, before any run).
  let startedAt = 0;
  // process.nextTick: its own queue, run before promise callbacks after
  // the script and after each timer (as Node does).
  const ticks = [];
  let tickScheduled = false;
  function drainTicks() {
    while (ticks.length) {
      const [fn, args] = ticks.shift();
      fn(...args);
    }
  }
  const listeners = {};
  // qjs:os's now() counts microseconds.
  const nowMs = () => os.now() / 1000;
  const startNs = () => BigInt(os.now()) * 1000n;
  const process = {
    env: {},
    argv: [],
    argv0: 'node',
    execArgv: [],
    platform: 'wasi',
    arch: 'wasm32',
    version: NODE_VERSION,
    versions: { node: NODE_VERSION.slice(1), quickjs: '0.16.2' },
    pid: 1,
    exitCode: undefined,
    title: 'node',
    cwd: () => os.getcwd()[0],
    chdir: (d) => { const e = os.chdir(String(d)); if (e) throw fsError(-e, 'chdir', d); },
    exit(code) {
      if (code !== undefined) process.exitCode = code;
      const c = exitWith();
      std.exit(c);
    },
    nextTick(fn, ...args) {
      ticks.push([fn, args]);
      if (!tickScheduled) {
        tickScheduled = true;
        queueMicrotask(() => { tickScheduled = false; drainTicks(); });
      }
    },
    hrtime: Object.assign((prev) => {
      const t = startNs();
      let s = Number(t / 1000000000n), ns = Number(t % 1000000000n);
      if (prev) { s -= prev[0]; ns -= prev[1]; if (ns < 0) { s--; ns += 1e9; } }
      return [s, ns];
    }, { bigint: startNs }),
    uptime: () => (os.now() - startedAt) / 1e6,
    memoryUsage: () => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }),
    stdout: { write: (d, enc, cb) => writeStream(std.out, d, enc, cb), isTTY: false, fd: 1 },
    stderr: { write: (d, enc, cb) => writeStream(std.err, d, enc, cb), isTTY: false, fd: 2 },
    on(ev, fn) { (listeners[ev] = listeners[ev] || []).push(fn); return process; },
    once(ev, fn) { const w = (...a) => { process.off(ev, w); fn(...a); }; return process.on(ev, w); },
    off(ev, fn) { listeners[ev] = (listeners[ev] || []).filter((f) => f !== fn); return process; },
    emit(ev, ...a) { const l = listeners[ev] || []; for (const f of [...l]) f(...a); return l.length > 0; },
    listenerCount: (ev) => (listeners[ev] || []).length,
  };
  process.addListener = process.on;
  // stream.write(data[, encoding][, callback]): strings as text, bytes as
  // they are; the callback runs once written, as Node's does.
  function writeStream(f, d, enc, cb) {
    if (typeof enc === 'function') cb = enc;
    if (typeof d === 'string') f.puts(d);
    else if (d && d.buffer instanceof ArrayBuffer) f.write(d.buffer, d.byteOffset, d.byteLength);
    else throw new TypeError('The "chunk" argument must be of type string or an instance of Buffer or Uint8Array. Received ' + inspect(d));
    f.flush();
    if (typeof cb === 'function') process.nextTick(cb, null);
    return true;
  }
  process.removeListener = process.off;
  let exiting = false;
  function exitWith() {
    let code = process.exitCode === undefined ? 0 : Number(process.exitCode) & 0xff;
    if (!exiting) {
      exiting = true;
      process.exitCode = code;
      try { process.emit('exit', code); } catch (e) { reportFatal(e); process.exitCode = 1; }
      code = Number(process.exitCode) & 0xff;
    }
    std.out.flush();
    std.err.flush();
    return code;
  }

  // ---------- console
  const counts = {}, timers = {};
  let groupIndent = '';
  const writeOut = (s) => std.out.puts(indentLines(s) + '\n');
  const writeErr = (s) => std.err.puts(indentLines(s) + '\n');
  const indentLines = (s) => (groupIndent ? groupIndent + s.split('\n').join('\n' + groupIndent) : s);
  const console = {
    log: (...a) => writeOut(format(...a)),
    info: (...a) => writeOut(format(...a)),
    debug: (...a) => writeOut(format(...a)),
    warn: (...a) => writeErr(format(...a)),
    error: (...a) => writeErr(format(...a)),
    trace: (...a) => writeErr('Trace: ' + format(...a)),
    dir: (o, opts) => writeOut(inspect(o, opts)),
    assert: (ok, ...a) => { if (!ok) writeErr(a.length ? 'Assertion failed: ' + format(...a) : 'Assertion failed'); },
    count: (l = 'default') => { counts[l] = (counts[l] || 0) + 1; writeOut(`${l}: ${counts[l]}`); },
    countReset: (l = 'default') => { counts[l] = 0; },
    time: (l = 'default') => { timers[l] = nowMs(); },
    timeEnd: (l = 'default') => { writeOut(`${l}: ${(nowMs() - timers[l]).toFixed(3)}ms`); delete timers[l]; },
    timeLog: (l = 'default', ...a) => writeOut(format(`${l}: ${(nowMs() - timers[l]).toFixed(3)}ms`, ...a)),
    group: (...a) => { if (a.length) writeOut(format(...a)); groupIndent += '  '; },
    groupEnd: () => { groupIndent = groupIndent.slice(2); },
    table: (d) => writeOut(inspect(d)),
  };

  // ---------- timers: a deadline-ordered queue behind one qjs:os timer
  // (QuickJS fires expired timers in creation order, Node by deadline).
  // Unref'd timers fire only while something else keeps the loop alive.
  const queue = [];
  let seq = 0;
  let armed = null;
  let armedAt = Infinity;
  function schedule() {
    const refd = queue.some((t) => t._ref);
    const next = refd ? queue[0]._due : Infinity;
    if (next === armedAt) return;
    if (armed !== null) os.clearTimeout(armed);
    armed = null;
    armedAt = next;
    if (next === Infinity) return;
    armed = os.setTimeout(fire, Math.max(0, next - nowMs()));
  }
  function insert(t) {
    let i = queue.length;
    while (i > 0 && (queue[i - 1]._due > t._due || (queue[i - 1]._due === t._due && queue[i - 1]._seq > t._seq))) i--;
    queue.splice(i, 0, t);
  }
  function fire() {
    armed = null;
    armedAt = Infinity;
    const now = nowMs();
    const due = [];
    while (queue.length && queue[0]._due <= now) due.push(queue.shift());
    try {
      while (due.length) {
        const t = due.shift();
        if (!t._active) continue;
        if (t._repeat) { t._due = nowMs() + t._ms; t._seq = seq++; insert(t); } else t._active = false;
        t._fn(...t._args);
      }
    } finally {
      // After a throw, the timers not yet run go back first in line.
      for (let i = due.length - 1; i >= 0; i--) queue.unshift(due[i]);
      schedule();
    }
  }
  class Timeout {
    constructor(fn, ms, args, repeat) {
      if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function. Received ' + inspect(fn));
      this._fn = fn; this._ms = Math.max(1, Number(ms) || 1); this._args = args; this._repeat = repeat;
      this._ref = true;
      this._active = true;
      this._due = nowMs() + this._ms;
      this._seq = seq++;
      insert(this);
      schedule();
    }
    ref() { this._ref = true; schedule(); return this; }
    unref() { this._ref = false; schedule(); return this; }
    hasRef() { return this._ref; }
    refresh() { this._clear(); this._active = true; this._due = nowMs() + this._ms; this._seq = seq++; insert(this); schedule(); return this; }
    _clear() { this._active = false; const i = queue.indexOf(this); if (i >= 0) queue.splice(i, 1); schedule(); }
    [Symbol.toPrimitive]() { return this._seq; }
  }
  const setTimeout = (fn, ms, ...args) => new Timeout(fn, ms, args, false);
  const setInterval = (fn, ms, ...args) => new Timeout(fn, ms, args, true);
  const clear = (t) => { if (t instanceof Timeout) t._clear(); };
  const setImmediate = (fn, ...args) => { const t = new Timeout(fn, 0, args, false); return t; };
  const PROMISIFY = Symbol.for('nodejs.util.promisify.custom');
  setTimeout[PROMISIFY] = (ms, v) => new Promise((r) => setTimeout(() => r(v), ms));
  setImmediate[PROMISIFY] = (v) => new Promise((r) => setImmediate(() => r(v)));
  const timersModule = { setTimeout, setInterval, setImmediate, clearTimeout: clear, clearInterval: clear, clearImmediate: clear,
    promises: { setTimeout: (ms, v) => new Promise((r) => setTimeout(() => r(v), ms)), setImmediate: (v) => new Promise((r) => setImmediate(() => r(v))) } };

  // ---------- path (posix)
  function normalizeArray(parts, absolute) {
    const out = [];
    for (const p of parts) {
      if (!p || p === '.') continue;
      if (p === '..') { if (out.length && out[out.length - 1] !== '..') out.pop(); else if (!absolute) out.push('..'); } else out.push(p);
    }
    return out;
  }
  const path = {
    sep: '/',
    delimiter: ':',
    normalize(p) {
      if (p === '') return '.';
      const abs = p.startsWith('/');
      const trailing = p.endsWith('/');
      let r = normalizeArray(p.split('/'), abs).join('/');
      if (!r && !abs) r = '.';
      if (r && trailing) r += '/';
      return (abs ? '/' : '') + r;
    },
    join(...parts) { const j = parts.filter((x) => x !== '').join('/'); return j ? path.normalize(j) : '.'; },
    resolve(...parts) {
      let r = '';
      for (let i = parts.length - 1; i >= -1 && !r.startsWith('/'); i--) {
        const p = i >= 0 ? parts[i] : process.cwd();
        if (p) r = p + (r ? '/' + r : '');
      }
      const n = normalizeArray(r.split('/'), true).join('/');
      return '/' + n;
    },
    isAbsolute: (p) => p.startsWith('/'),
    dirname(p) {
      if (!p) return '.';
      const s = p.replace(/\/+$/, '') || '/';
      const i = s.lastIndexOf('/');
      if (i < 0) return '.';
      return i === 0 ? '/' : s.slice(0, i).replace(/\/+$/, '') || '/';
    },
    basename(p, ext) {
      let b = p.replace(/\/+$/, '');
      b = b.slice(b.lastIndexOf('/') + 1);
      if (ext && b.endsWith(ext) && b !== ext) b = b.slice(0, -ext.length);
      return b;
    },
    extname(p) {
      const b = path.basename(p);
      const i = b.lastIndexOf('.');
      return i <= 0 ? '' : b.slice(i);
    },
    relative(from, to) {
      const f = path.resolve(from).split('/').filter(Boolean), t = path.resolve(to).split('/').filter(Boolean);
      let i = 0;
      while (i < f.length && i < t.length && f[i] === t[i]) i++;
      return [...Array(f.length - i).fill('..'), ...t.slice(i)].join('/');
    },
    parse(p) {
      const root = p.startsWith('/') ? '/' : '';
      const base = path.basename(p), ext = path.extname(p);
      let dir = path.dirname(p);
      if (dir === '.' && !p.includes('/')) dir = '';
      return { root, dir, base, ext, name: ext ? base.slice(0, -ext.length) : base };
    },
    format(o) { const dir = o.dir || o.root || ''; const base = o.base || (o.name || '') + (o.ext || ''); return dir ? (dir === o.root ? dir + base : dir + '/' + base) : base; },
  };
  path.posix = path;

  // ---------- text and Buffer
  function encodeUtf8(str) {
    const out = [];
    for (let i = 0; i < str.length; i++) {
      let c = str.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < str.length) {
        const d = str.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; } else c = 0xfffd;
      } else if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return new Uint8Array(out);
  }
  function decodeUtf8(b) {
    let s = '';
    for (let i = 0; i < b.length;) {
      const c = b[i];
      let cp = 0xfffd, n = 1;
      if (c < 0x80) cp = c;
      else if (c >= 0xc2 && c < 0xe0 && (b[i + 1] & 0xc0) === 0x80) { cp = ((c & 31) << 6) | (b[i + 1] & 63); n = 2; }
      else if (c >= 0xe0 && c < 0xf0 && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80) { cp = ((c & 15) << 12) | ((b[i + 1] & 63) << 6) | (b[i + 2] & 63); n = 3; }
      else if (c >= 0xf0 && c < 0xf5 && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80 && (b[i + 3] & 0xc0) === 0x80) { cp = ((c & 7) << 18) | ((b[i + 1] & 63) << 12) | ((b[i + 2] & 63) << 6) | (b[i + 3] & 63); n = 4; }
      s += String.fromCodePoint(cp);
      i += n;
    }
    return s;
  }
  class TextEncoder { get encoding() { return 'utf-8'; } encode(s = '') { return encodeUtf8(String(s)); } }
  class TextDecoder { get encoding() { return 'utf-8'; } decode(b) { return b ? decodeUtf8(b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) : ''; } }
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  function toBase64(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      s += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] + (i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=') + (i + 2 < bytes.length ? B64[n & 63] : '=');
    }
    return s;
  }
  function fromBase64(s) {
    s = s.replace(/[^A-Za-z0-9+/\-_]/g, '').replace(/-/g, '+').replace(/_/g, '/');
    const out = [];
    for (let i = 0; i < s.length; i += 4) {
      const c = [0, 1, 2, 3].map((k) => (i + k < s.length ? B64.indexOf(s[i + k]) : -1));
      const n = (c[0] << 18) | (c[1] << 12) | ((c[2] & 63) << 6) | (c[3] & 63);
      out.push((n >> 16) & 255);
      if (c[2] >= 0) out.push((n >> 8) & 255);
      if (c[3] >= 0) out.push(n & 255);
    }
    return out;
  }
  class Buffer extends Uint8Array {
    static from(v, enc) {
      if (typeof v === 'string') {
        if (enc === 'base64' || enc === 'base64url') return Buffer.from(fromBase64(v));
        if (enc === 'hex') return Buffer.from((v.match(/../g) || []).map((h) => parseInt(h, 16)).filter((n) => !isNaN(n)));
        if (enc === 'latin1' || enc === 'binary' || enc === 'ascii') return Buffer.from([...v].map((c) => c.charCodeAt(0) & 255));
        const u = encoder.encode(v);
        const b = new Buffer(u.length); b.set(u); return b;
      }
      if (v instanceof ArrayBuffer) return new Buffer(v);
      const b = new Buffer(v.length); b.set(v); return b;
    }
    static alloc(n, fill) { const b = new Buffer(n); if (fill !== undefined) b.fill(typeof fill === 'string' ? fill.charCodeAt(0) : fill); return b; }
    static allocUnsafe(n) { return Buffer.alloc(n); }
    static isBuffer(b) { return b instanceof Buffer; }
    static byteLength(s, enc) { return typeof s === 'string' ? Buffer.from(s, enc).length : s.byteLength; }
    static concat(list, total) {
      const n = total === undefined ? list.reduce((a, b) => a + b.length, 0) : total;
      const out = Buffer.alloc(n);
      let o = 0;
      for (const b of list) { if (o >= n) break; out.set(b.subarray(0, n - o), o); o += b.length; }
      return out;
    }
    toString(enc, start = 0, end = this.length) {
      const s = this.subarray(start, end);
      if (enc === 'base64') return toBase64(s);
      if (enc === 'base64url') return toBase64(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      if (enc === 'hex') return Array.from(s, (x) => x.toString(16).padStart(2, '0')).join('');
      if (enc === 'latin1' || enc === 'binary' || enc === 'ascii') return String.fromCharCode(...s);
      return decoder.decode(s);
    }
    indexOf(v, from = 0, enc) {
      if (typeof v === 'number') return Uint8Array.prototype.indexOf.call(this, v & 255, from);
      const n = typeof v === 'string' ? Buffer.from(v, enc) : v;
      if (from < 0) from = Math.max(0, this.length + from);
      if (n.length === 0) return Math.min(from, this.length);
      const first = n[0];
      for (let i = Uint8Array.prototype.indexOf.call(this, first, from); i >= 0 && i + n.length <= this.length; i = Uint8Array.prototype.indexOf.call(this, first, i + 1)) {
        let j = 1;
        while (j < n.length && this[i + j] === n[j]) j++;
        if (j === n.length) return i;
      }
      return -1;
    }
    includes(v, from, enc) { return this.indexOf(v, from, enc) !== -1; }
    toJSON() { return { type: 'Buffer', data: Array.from(this) }; }
    equals(o) { return this.length === o.length && this.every((x, i) => x === o[i]); }
    slice(a, b) { return this.subarray(a, b); }
    subarray(a, b) { const s = Uint8Array.prototype.subarray.call(this, a, b); Object.setPrototypeOf(s, Buffer.prototype); return s; }
    // write(string[, offset[, length]][, encoding])
    write(s, offset, length, enc) {
      if (typeof offset === 'string') { enc = offset; offset = 0; length = undefined; } else if (typeof length === 'string') { enc = length; length = undefined; }
      offset = offset === undefined ? 0 : offset >>> 0;
      const b = Buffer.from(s, enc);
      const n = Math.min(b.length, this.length - offset, length === undefined ? Infinity : length >>> 0);
      this.set(b.subarray(0, n), offset);
      return n;
    }
    copy(target, targetStart = 0, sourceStart = 0, sourceEnd = this.length) {
      const n = Math.max(0, Math.min(sourceEnd, this.length) - sourceStart);
      const part = Uint8Array.prototype.subarray.call(this, sourceStart, sourceStart + Math.min(n, target.length - targetStart));
      target.set(part, targetStart);
      return part.length;
    }
    compare(o) { return Buffer.compare(this, o); }
    static compare(a, b) {
      const n = Math.min(a.length, b.length);
      for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
      return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
    }
    _view() { return new DataView(this.buffer, this.byteOffset, this.byteLength); }
    [inspect.custom]() { const hex = Array.from(this.subarray(0, 50), (x) => x.toString(16).padStart(2, '0')).join(' '); return `<Buffer${hex ? ' ' + hex : ''}${this.length > 50 ? ` ... ${this.length - 50} more bytes` : ''}>`; }
  }

  // Buffer's fixed-size reads and writes (Node's names, over DataView):
  // readUInt32BE(offset), writeInt16LE(value, offset) -> offset + size, ...
  for (const [name, size, get, set] of [
    ['UInt8', 1, 'getUint8', 'setUint8'], ['Int8', 1, 'getInt8', 'setInt8'],
    ['UInt16', 2, 'getUint16', 'setUint16'], ['Int16', 2, 'getInt16', 'setInt16'],
    ['UInt32', 4, 'getUint32', 'setUint32'], ['Int32', 4, 'getInt32', 'setInt32'],
    ['Float', 4, 'getFloat32', 'setFloat32'], ['Double', 8, 'getFloat64', 'setFloat64'],
    ['BigUInt64', 8, 'getBigUint64', 'setBigUint64'], ['BigInt64', 8, 'getBigInt64', 'setBigInt64'],
  ]) {
    const check = (b, offset) => {
      if (offset === undefined) offset = 0;
      if (!Number.isInteger(offset) || offset < 0 || offset + size > b.length) {
        const e = new RangeError(`The value of "offset" is out of range. It must be >= 0 and <= ${b.length - size}. Received ${offset}`);
        e.code = 'ERR_OUT_OF_RANGE';
        throw e;
      }
      return offset;
    };
    for (const [suffix, little] of size === 1 ? [['', false]] : [['BE', false], ['LE', true]]) {
      Buffer.prototype[`read${name}${suffix}`] = function (offset) { return this._view()[get](check(this, offset), little); };
      Buffer.prototype[`write${name}${suffix}`] = function (value, offset) { offset = check(this, offset); this._view()[set](offset, value, little); return offset + size; };
    }
  }
  for (const k of Object.getOwnPropertyNames(Buffer.prototype)) if (/^(read|write)U[Ii]nt/.test(k)) Buffer.prototype[k.replace('UInt', 'Uint')] = Buffer.prototype[k];

  // ---------- events
  // A function constructor, as Node's: `EventEmitter.call(this)` works.
  function EventEmitter() {
    if (!(this instanceof EventEmitter)) throw new TypeError("Class constructor EventEmitter cannot be invoked without 'new'");
    this._events = {};
  }
  Object.assign(EventEmitter.prototype, {
    on(ev, fn) { (this._ev()[ev] = this._ev()[ev] || []).push(fn); return this; },
    prependListener(ev, fn) { (this._ev()[ev] = this._ev()[ev] || []).unshift(fn); return this; },
    once(ev, fn) { const w = (...a) => { this.off(ev, w); fn.apply(this, a); }; w.listener = fn; return this.on(ev, w); },
    off(ev, fn) { const l = this._ev()[ev]; if (l) { const i = l.findIndex((f) => f === fn || f.listener === fn); if (i >= 0) l.splice(i, 1); } return this; },
    removeAllListeners(ev) { if (ev === undefined) this._events = {}; else delete this._ev()[ev]; return this; },
    emit(ev, ...a) {
      const l = this._ev()[ev];
      if (ev === 'error' && (!l || !l.length)) throw a[0] instanceof Error ? a[0] : new Error(`Unhandled error. (${inspect(a[0])})`);
      if (!l || !l.length) return false;
      for (const f of [...l]) f.apply(this, a);
      return true;
    },
    listenerCount(ev) { return (this._ev()[ev] || []).length; },
    listeners(ev) { return (this._ev()[ev] || []).map((f) => f.listener || f); },
    eventNames() { return Object.keys(this._ev()).filter((k) => this._events[k].length); },
    setMaxListeners() { return this; },
    getMaxListeners() { return 10; },
    _ev() { if (!Object.prototype.hasOwnProperty.call(this, '_events') || !this._events) this._events = {}; return this._events; },
  });
  Object.defineProperty(EventEmitter.prototype, '_ev', { enumerable: false });
  EventEmitter.prototype.addListener = EventEmitter.prototype.on;
  EventEmitter.prototype.removeListener = EventEmitter.prototype.off;
  EventEmitter.EventEmitter = EventEmitter;
  EventEmitter.once = (em, ev) => new Promise((r) => em.once(ev, (...a) => r(a)));
  EventEmitter.defaultMaxListeners = 10;

  // ---------- util
  function promisify(fn) {
    if (typeof fn[promisify.custom] === 'function') return fn[promisify.custom];
    return function (...args) {
      return new Promise((res, rej) => fn.call(this, ...args, (err, v) => (err ? rej(err) : res(v))));
    };
  }
  promisify.custom = Symbol.for('nodejs.util.promisify.custom');
  const util = {
    format, inspect, promisify,
    inherits(c, p) { Object.defineProperty(c, 'super_', { value: p, writable: true, configurable: true }); Object.setPrototypeOf(c.prototype, p.prototype); },
    isDeepStrictEqual: (a, b) => deepEqual(a, b, true),
    types: { isPromise: (p) => p instanceof Promise, isDate: (d) => d instanceof Date, isRegExp: (r) => r instanceof RegExp },
    deprecate: (fn) => fn,
    TextEncoder, TextDecoder,
  };

  // ---------- assert
  function deepEqual(a, b, strict) {
    if (strict ? Object.is(a, b) : a == b) return true;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
    if (a instanceof Map && b instanceof Map) return a.size === b.size && [...a].every(([k, v]) => b.has(k) && deepEqual(v, b.get(k), strict));
    if (a instanceof Set && b instanceof Set) return a.size === b.size && [...a].every((v) => b.has(v));
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k], strict));
  }
  class AssertionError extends Error {
    constructor(o) {
      super(o.message);
      this.name = 'AssertionError';
      this.code = 'ERR_ASSERTION';
      this.actual = o.actual; this.expected = o.expected; this.operator = o.operator;
      this.generatedMessage = !o.userMessage;
    }
  }
  // Node's rules for what `expected` accepts in throws/rejects: a class
  // (instanceof), a validator function (must return true), a RegExp (tests
  // the error's text), an object (each property must match).
  function checkExpected(e, expected, m, op) {
    if (expected === undefined || typeof expected === 'string') return;
    if (typeof expected === 'function') {
      if (expected.prototype !== undefined && e instanceof expected) return;
      if (Error.isPrototypeOf(expected) || expected === Error) throw e;
      if (expected.call({}, e) === true) return;
      fail(e, expected, m, op, () => `The ${expected.name ? `"${expected.name}" ` : ''}validation function is expected to return "true". Received ${inspect(false)}`);
    }
    if (expected instanceof RegExp) {
      if (expected.test(String(e))) return;
      fail(e, expected, m, op, () => `The input did not match the regular expression ${expected}. Input:\n\n${inspect(String(e))}\n`);
    }
    if (typeof expected === 'object' && expected !== null) {
      for (const k of Object.keys(expected)) {
        const want = expected[k], got = e == null ? undefined : e[k];
        const ok = want instanceof RegExp && typeof got === 'string' ? want.test(got) : deepEqual(got, want, true);
        if (!ok) fail(e, expected, m, op, () => `Expected values to be strictly deep-equal:\n+ actual - expected\n\n  Comparison {\n+   ${k}: ${inspect(got)}\n-   ${k}: ${inspect(want)}\n  }`);
      }
    }
  }
  function fail(actual, expected, message, operator, dflt) {
    if (message instanceof Error) throw message;
    throw new AssertionError({ message: message || dflt(), actual, expected, operator, userMessage: !!message });
  }
  const assert = (v, m) => assert.ok(v, m);
  Object.assign(assert, {
    AssertionError,
    ok: (v, m) => { if (!v) fail(v, true, m, '==', () => 'The expression evaluated to a falsy value:\n\n  assert.ok(' + inspect(v) + ')\n'); },
    equal: (a, b, m) => { if (!(a == b)) fail(a, b, m, '==', () => `${inspect(a)} == ${inspect(b)}`); },
    notEqual: (a, b, m) => { if (a == b) fail(a, b, m, '!=', () => `${inspect(a)} != ${inspect(b)}`); },
    strictEqual: (a, b, m) => { if (!Object.is(a, b)) fail(a, b, m, 'strictEqual', () => `Expected values to be strictly equal:\n\n${inspect(a)} !== ${inspect(b)}\n`); },
    notStrictEqual: (a, b, m) => { if (Object.is(a, b)) fail(a, b, m, 'notStrictEqual', () => `Expected "actual" to be strictly unequal to: ${inspect(b)}`); },
    deepEqual: (a, b, m) => { if (!deepEqual(a, b, false)) fail(a, b, m, 'deepEqual', () => 'Expected values to be loosely deep-equal'); },
    deepStrictEqual: (a, b, m) => { if (!deepEqual(a, b, true)) fail(a, b, m, 'deepStrictEqual', () => 'Expected values to be strictly deep-equal'); },
    notDeepStrictEqual: (a, b, m) => { if (deepEqual(a, b, true)) fail(a, b, m, 'notDeepStrictEqual', () => 'Expected "actual" not to be strictly deep-equal to "expected"'); },
    fail: (m) => fail(undefined, undefined, m || 'Failed', 'fail', () => 'Failed'),
    throws(fn, expected, m) {
      try { fn(); } catch (e) {
        checkExpected(e, expected, m, 'throws');
        return;
      }
      fail(undefined, expected, (typeof expected === 'string' ? expected : m) || 'Missing expected exception.', 'throws', () => '');
    },
    doesNotThrow(fn, m) {
      try { fn(); } catch (e) {
        fail(e, undefined, typeof m === 'string' ? m : undefined, 'doesNotThrow', () => `Got unwanted exception.\nActual message: "${e && e.message}"`);
      }
    },
    notDeepEqual: (a, b, m) => { if (deepEqual(a, b, false)) fail(a, b, m, 'notDeepEqual', () => 'Expected "actual" not to be loosely deep-equal to "expected"'); },
    ifError: (v) => { if (v !== null && v !== undefined) { if (v instanceof Error) throw v; fail(v, null, undefined, 'ifError', () => `ifError got unwanted exception: ${inspect(v)}`); } },
    async rejects(p, expected, m) {
      try { await (typeof p === 'function' ? p() : p); } catch (e) { checkExpected(e, expected, m, 'rejects'); return; }
      fail(undefined, expected, m || 'Missing expected rejection.', 'rejects', () => '');
    },
    match: (s, re, m) => { if (!re.test(s)) fail(s, re, m, 'match', () => `The input did not match the regular expression ${re}. Input:\n\n${inspect(s)}\n`); },
  });
  assert.strict = assert;

  // ---------- fs (sync first; callback and promise forms over it)
  // WASI's errno numbers (what the guest's libc reports) by name, and the
  // (negative) Linux numbers Node reports as `errno`.
  const ERRNO = { 2: 'EACCES', 8: 'EBADF', 10: 'EBUSY', 20: 'EEXIST', 28: 'EINVAL', 29: 'EIO', 31: 'EISDIR', 44: 'ENOENT', 22: 'EFBIG', 51: 'ENOSPC', 54: 'ENOTDIR', 55: 'ENOTEMPTY', 63: 'EPERM', 69: 'EROFS', 76: 'ENOTCAPABLE' };
  const LINUX_ERRNO = { EPERM: -1, ENOENT: -2, EIO: -5, EBADF: -9, EACCES: -13, EBUSY: -16, EEXIST: -17, ENOTDIR: -20, EISDIR: -21, EINVAL: -22, EFBIG: -27, ENOSPC: -28, EROFS: -30, ENOTEMPTY: -39 };
  const MESSAGES = { ENOENT: 'no such file or directory', EEXIST: 'file already exists', ENOTDIR: 'not a directory', EISDIR: 'illegal operation on a directory', ENOTEMPTY: 'directory not empty', EACCES: 'permission denied', EPERM: 'operation not permitted', EINVAL: 'invalid argument', ENOSPC: 'no space left on device', EFBIG: 'file too large' };
  // `errno`: a WASI errno number, or a code name.
  function fsError(errno, syscall, p, dest) {
    const code = typeof errno === 'string' ? errno : ERRNO[errno] || 'EIO';
    const msg = MESSAGES[code] || (typeof errno === 'number' ? std.strerror(errno) : code);
    const e = new Error(`${code}: ${msg}, ${syscall} '${p}'${dest ? ` -> '${dest}'` : ''}`);
    e.errno = LINUX_ERRNO[code] || -5; e.code = code; e.syscall = syscall; e.path = p;
    if (dest) e.dest = dest;
    return e;
  }
  function encodingOf(o) { return typeof o === 'string' ? o : o && o.encoding; }
  function statOf(p, follow) {
    const [st, err] = follow || typeof os.lstat !== 'function' ? os.stat(p) : os.lstat(p);
    if (err) throw fsError(err, follow ? 'stat' : 'lstat', p);
    return new Stats(st);
  }
  class Stats {
    constructor(st) {
      Object.assign(this, { dev: st.dev, mode: st.mode, nlink: st.nlink, uid: st.uid, gid: st.gid, rdev: st.rdev, blksize: st.blksize, ino: st.ino, size: st.size, blocks: st.blocks });
      this.atimeMs = st.atime; this.mtimeMs = st.mtime; this.ctimeMs = st.ctime; this.birthtimeMs = st.ctime;
      this.atime = new Date(st.atime); this.mtime = new Date(st.mtime); this.ctime = new Date(st.ctime); this.birthtime = new Date(st.ctime);
    }
    isFile() { return (this.mode & os.S_IFMT) === os.S_IFREG; }
    isDirectory() { return (this.mode & os.S_IFMT) === os.S_IFDIR; }
    isSymbolicLink() { return (this.mode & os.S_IFMT) === os.S_IFLNK; }
    isFIFO() { return false; }
    isSocket() { return false; }
  }
  function readFileSync(p, o) {
    p = String(p);
    const enc = encodingOf(o);
    const [st, err] = os.stat(p);
    if (err) throw fsError(err, 'open', p);
    if ((st.mode & os.S_IFMT) === os.S_IFDIR) throw fsError('EISDIR', 'read', p);
    if (enc === 'utf8' || enc === 'utf-8') {
      const text = std.loadFile(p);
      if (text === null) throw fsError('EACCES', 'open', p);
      return text;
    }
    const bytes = std.loadFile(p, { binary: true });
    if (bytes === null) throw fsError('EACCES', 'open', p);
    const b = Buffer.from(bytes);
    return enc ? b.toString(enc) : b;
  }
  function writeAll(p, data, mode, o) {
    p = String(p);
    const flags = os.O_WRONLY | os.O_CREAT | (mode === 'ab' ? os.O_APPEND : os.O_TRUNC);
    const fd = os.open(p, flags, 0o666);
    if (fd < 0) throw fsError(existsSync(path.dirname(path.resolve(p))) ? (isDir(p) ? 'EISDIR' : -fd) : 'ENOENT', 'open', p);
    const bytes = typeof data === 'string' ? Buffer.from(data, encodingOf(o) === 'base64' || encodingOf(o) === 'hex' ? encodingOf(o) : undefined) : data;
    // A write the disk refuses (ENOSPC, EFBIG) fails the call, as in Node.
    let done = 0;
    while (done < bytes.byteLength) {
      const n = os.write(fd, bytes.buffer, bytes.byteOffset + done, bytes.byteLength - done);
      if (n <= 0) { os.close(fd); throw fsError(n < 0 ? -n : 'EIO', 'write', p); }
      done += n;
    }
    os.close(fd);
  }
  function isDir(p) { const [st, e] = os.stat(p); return !e && (st.mode & os.S_IFMT) === os.S_IFDIR; }
  function existsSync(p) { return !os.stat(String(p))[1]; }
  function readdirSync(p, o) {
    const [names, err] = os.readdir(String(p));
    if (err) throw fsError(err, 'scandir', p);
    const list = names.filter((n) => n !== '.' && n !== '..').sort();
    if (o && o.withFileTypes) {
      return list.map((n) => {
        const s = statOf(path.join(String(p), n), false);
        return { name: n, isFile: () => s.isFile(), isDirectory: () => s.isDirectory(), isSymbolicLink: () => s.isSymbolicLink() };
      });
    }
    return list;
  }
  function mkdirSync(p, o) {
    p = String(p);
    const recursive = o && typeof o === 'object' && o.recursive;
    if (recursive) {
      if (isDir(p)) return undefined;
      const parent = path.dirname(path.resolve(p));
      let first;
      if (!isDir(parent)) first = mkdirSync(parent, o);
      const e = os.mkdir(p, 0o777);
      if (e && !isDir(p)) throw fsError(-e, 'mkdir', p);
      return first || path.resolve(p);
    }
    const e = os.mkdir(p, 0o777);
    if (e) throw fsError(-e, 'mkdir', p);
    return undefined;
  }
  function rmSync(p, o) {
    p = String(p);
    const [st, err] = (typeof os.lstat === 'function' ? os.lstat : os.stat)(p);
    if (err) { if (o && o.force) return; throw fsError(err, 'lstat', p); }
    if ((st.mode & os.S_IFMT) === os.S_IFDIR) {
      if (!(o && o.recursive)) { const e = new Error(`Path is a directory: rm returned EISDIR (is a directory) ${p}`); e.code = 'ERR_FS_EISDIR'; throw e; }
      for (const n of readdirSync(p)) rmSync(path.join(p, n), o);
    }
    const e = os.remove(p);
    if (e) throw fsError(-e, 'rm', p);
  }
  const fs = {
    readFileSync,
    writeFileSync: (p, d, o) => writeAll(p, d, 'wb', o),
    appendFileSync: (p, d, o) => writeAll(p, d, 'ab', o),
    existsSync,
    statSync: (p, o) => { try { return statOf(String(p), true); } catch (e) { if (o && o.throwIfNoEntry === false && e.code === 'ENOENT') return undefined; throw e; } },
    lstatSync: (p) => statOf(String(p), false),
    readdirSync,
    mkdirSync,
    rmSync,
    rmdirSync: (p) => { const e = os.remove(String(p)); if (e) throw fsError(-e, 'rmdir', p); },
    unlinkSync: (p) => { if (isDir(String(p))) throw fsError('EISDIR', 'unlink', p); const e = os.remove(String(p)); if (e) throw fsError(-e, 'unlink', p); },
    renameSync: (a, b) => { const e = os.rename(String(a), String(b)); if (e) throw fsError(-e, 'rename', a, b); },
    copyFileSync: (a, b) => writeAll(b, readFileSync(a), 'wb'),
    // WASI has no realpath(3): the resolved path, checked to exist.
    realpathSync: (p) => { const r = path.resolve(String(p)); if (!existsSync(r)) throw fsError('ENOENT', 'realpath', p); return r; },
    accessSync: (p) => { if (!existsSync(p)) throw fsError('ENOENT', 'access', p); },
    constants: { F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1 },
  };
  const asyncNames = ['readFile', 'writeFile', 'appendFile', 'stat', 'lstat', 'readdir', 'mkdir', 'rm', 'rmdir', 'unlink', 'rename', 'copyFile', 'realpath', 'access'];
  fs.promises = {};
  for (const n of asyncNames) {
    const sync = fs[n + 'Sync'];
    fs[n] = (...args) => {
      const cb = args.pop();
      if (typeof cb !== 'function') throw new TypeError('The "cb" argument must be of type function. Received ' + inspect(cb));
      let r, err = null;
      try { r = sync(...args); } catch (e) { err = e; }
      setImmediate(() => (err ? cb(err) : cb(null, r)));
    };
    fs.promises[n] = (...args) => new Promise((res, rej) => { try { res(sync(...args)); } catch (e) { rej(e); } });
  }
  fs.exists = (p, cb) => setImmediate(() => cb(existsSync(p)));

  // ---------- os, crypto
  const osModule = {
    EOL: '\n',
    platform: () => 'wasi',
    type: () => 'WASI',
    arch: () => 'wasm32',
    release: () => '0.1',
    tmpdir: () => (process.env.TMPDIR || '/tmp').replace(/\/$/, '') || '/tmp',
    homedir: () => process.env.HOME || '/',
    hostname: () => process.env.HOSTNAME || 'wasmjobs',
    cpus: () => [],
    totalmem: () => 0,
    freemem: () => 0,
    endianness: () => 'LE',
    uptime: () => (os.now() - startedAt) / 1e6,
    userInfo: () => ({ username: process.env.USER || 'job', uid: -1, gid: -1, shell: null, homedir: process.env.HOME || '/' }),
  };
  const crypto = makeCrypto();

  // ---------- network: net, tls, http, https, fetch, URL (node/net.js),
  // over the host's sockets
  const netLib = globalThis.__wasmjobs_makeNet({ native: native.net, EventEmitter, Buffer, process, setTimeout, clearTimeout: clear });
  delete globalThis.__wasmjobs_makeNet;
  const urlModule = {
    URL: netLib.URL, URLSearchParams: netLib.URLSearchParams,
    fileURLToPath(u) { const x = typeof u === 'string' ? new netLib.URL(u) : u; if (x.protocol !== 'file:') { const e = new TypeError('The URL must be of scheme file'); e.code = 'ERR_INVALID_URL_SCHEME'; throw e; } return decodeURIComponent(x.pathname); },
    pathToFileURL(p) { return new netLib.URL('file://' + encodeURI(path.resolve(p))); },
  };
  // The event loop's call while sockets are open: waits for them, or for
  // the next timer (unref'd ones too: something keeps the loop alive).
  globalThis.__wasmjobs_netPoll = (wait) => {
    if (queue.length) {
      const d = Math.max(0, Math.ceil(queue[0]._due - nowMs()));
      wait = wait < 0 ? d : Math.min(wait, d);
    }
    netLib.poll(wait);
    if (queue.length && queue[0]._due <= nowMs()) {
      if (armed !== null) { os.clearTimeout(armed); armed = null; armedAt = Infinity; }
      fire();
    }
    return -1;
  };

  // ---------- modules
  const unavailable = ['http2', 'dgram', 'child_process', 'cluster', 'worker_threads', 'inspector', 'vm', 'v8', 'repl', 'readline', 'tty', 'perf_hooks', 'async_hooks', 'zlib', 'stream', 'module', 'diagnostics_channel', 'trace_events', 'wasi', 'string_decoder', 'querystring', 'punycode', 'domain', 'constants', 'sys', 'test'];
  const core = {
    fs: () => fs, 'fs/promises': () => fs.promises, path: () => path, 'path/posix': () => path, os: () => osModule,
    util: () => util, events: () => EventEmitter, assert: () => assert, 'assert/strict': () => assert,
    timers: () => timersModule, 'timers/promises': () => timersModule.promises,
    buffer: () => ({ Buffer, constants: { MAX_LENGTH: 2 ** 31 - 1 } }), crypto: () => crypto, process: () => process,
    console: () => console,
    net: () => netLib.net, tls: () => netLib.tls, http: () => netLib.http, https: () => netLib.https, url: () => urlModule,
    dns: () => netLib.dns, 'dns/promises': () => netLib.dns.promises,
  };
  function coreName(id) {
    const n = id.startsWith('node:') ? id.slice(5) : id;
    if (Object.prototype.hasOwnProperty.call(core, n)) return n;
    if (unavailable.includes(n)) {
      const e = new Error(`Cannot load '${id}': the '${n}' module is not available in the wasmjobs sandbox (no processes, threads or servers)`);
      e.code = 'ERR_UNAVAILABLE_IN_SANDBOX';
      throw e;
    }
    return null;
  }
  class Module {
    constructor(id, parent) { this.id = id; this.filename = id; this.path = path.dirname(id); this.exports = {}; this.parent = parent; this.loaded = false; this.children = []; this.paths = []; }
  }
  const cache = Object.create(null);
  function isFile(p) { const [st, e] = os.stat(p); return !e && (st.mode & os.S_IFMT) === os.S_IFREG; }
  function tryFile(p) {
    if (isFile(p)) return p;
    for (const ext of ['.js', '.json', '.cjs']) if (isFile(p + ext)) return p + ext;
    return null;
  }
  function tryDir(p) {
    if (!isDir(p)) return null;
    const pkg = path.join(p, 'package.json');
    if (isFile(pkg)) {
      let main;
      try { main = JSON.parse(std.loadFile(pkg)).main; } catch (e) { main = undefined; }
      if (main) { const m = tryFile(path.resolve(p, main)) || tryIndex(path.resolve(p, main)); if (m) return m; }
    }
    return tryIndex(p);
  }
  function tryIndex(p) { for (const f of ['index.js', 'index.json']) if (isFile(path.join(p, f))) return path.join(p, f); return null; }
  function resolveFrom(id, dir) {
    if (id.startsWith('./') || id.startsWith('../') || id.startsWith('/') || id === '.' || id === '..') {
      const p = path.resolve(dir, id);
      const f = tryFile(p) || tryDir(p);
      if (f) return f;
    } else {
      for (let d = dir; ; d = path.dirname(d)) {
        if (path.basename(d) !== 'node_modules') {
          const p = path.join(d, 'node_modules', id);
          const f = tryFile(p) || tryDir(p);
          if (f) return f;
        }
        if (d === '/') break;
      }
    }
    const e = new Error(`Cannot find module '${id}'`);
    e.code = 'MODULE_NOT_FOUND';
    throw e;
  }
  function makeRequire(mod) {
    const req = (id) => {
      if (typeof id !== 'string' || id === '') throw new TypeError(`The "id" argument must be a non-empty string. Received ${inspect(id)}`);
      const c = coreName(id);
      if (c) return core[c]();
      const file = resolveFrom(id, mod ? mod.path : process.cwd());
      return loadModule(file, mod);
    };
    req.resolve = (id) => (coreName(id) ? id : resolveFrom(id, mod ? mod.path : process.cwd()));
    req.cache = cache;
    req.main = mainModule;
    return req;
  }
  function loadModule(file, parent) {
    if (cache[file]) return cache[file].exports;
    const m = new Module(file, parent);
    cache[file] = m;
    if (parent) parent.children.push(m);
    try {
      const src = std.loadFile(file);
      if (file.endsWith('.json')) {
        try { m.exports = JSON.parse(src.replace(/^\uFEFF/, '')); } catch (e) { e.message = `${file}: ${e.message}`; throw e; }
      } else {
        const fn = native.compile(src, file);
        fn.call(m.exports, m.exports, makeRequire(m), m, file, m.path);
      }
    } catch (e) {
      delete cache[file];
      throw e;
    }
    m.loaded = true;
    return m.exports;
  }
  let mainModule;
  const module = { Module, builtinModules: Object.keys(core) };
  core.module = () => module;

  // ---------- errors at the top
  function errorText(e) {
    if (e instanceof Error) {
      const stack = String(e.stack || '').replace(/\n$/, '');
      return `${e.name}: ${e.message}` + (stack ? '\n' + stack : '');
    }
    return `Uncaught ${inspect(e)}`;
  }
  function reportFatal(e) {
    std.err.puts(`${e instanceof Error ? '' : ''}${errorText(e)}\n\nNode.js ${NODE_VERSION}\n`);
  }
  const rejections = new Map();

  // ---------- globals
  Object.assign(globalThis, {
    process, console, Buffer, global: globalThis, TextEncoder, TextDecoder,
    setTimeout, setInterval, setImmediate, clearTimeout: clear, clearInterval: clear, clearImmediate: clear,
    require: makeRequire(null),
  });
  if (typeof globalThis.crypto !== 'object') globalThis.crypto = crypto.webcrypto;
  for (const k of ['fetch', 'Headers', 'Request', 'Response', 'URL', 'URLSearchParams', 'AbortController', 'AbortSignal']) {
    if (typeof globalThis[k] !== 'function') globalThis[k] = netLib[k];
  }
  if (typeof globalThis.queueMicrotask !== 'function') globalThis.queueMicrotask = (f) => Promise.resolve().then(f);
  if (typeof globalThis.structuredClone !== 'function') globalThis.structuredClone = (v) => JSON.parse(JSON.stringify(v));

  // The main module: `fn` is its wrapper, compiled by main.c.
  // The start of a run: its environment, arguments and start time.
  globalThis.__wasmjobs_start = () => {
    process.env = std.getenviron();
    startedAt = os.now();
    const argv0 = globalThis.scriptArgs || [];
    process.argv = ['node', ...argv0.map((a, i) => (i === 0 ? path.resolve(a) : a))];
  };
  globalThis.__wasmjobs_runMain = (full, fn) => {
    mainModule = new Module(full, null);
    mainModule.id = '.';
    cache[full] = mainModule;
    const req = makeRequire(mainModule);
    globalThis.require = req;
    fn.call(mainModule.exports, mainModule.exports, req, mainModule, full, path.dirname(full));
    mainModule.loaded = true;
  };
  globalThis.__wasmjobs_rejection = (p, reason, handled) => {
    if (handled) rejections.delete(p); else rejections.set(p, reason);
  };
  globalThis.__wasmjobs_tick = () => {
    for (const [p, reason] of rejections) {
      rejections.delete(p);
      if (process.emit('unhandledRejection', reason, p)) continue;
      if (process.emit('uncaughtException', reason, 'unhandledRejection')) continue;
      if (reason instanceof Error) reportFatal(reason);
      else std.err.puts(`node:internal/process/promises:289\n            triggerUncaughtException(err, true /* fromPromise */);\n            ^\n\n[UnhandledPromiseRejection: This error originated either by throwing inside of an async function without a catch block, or by rejecting a promise which was not handled with .catch(). The promise rejected with the reason "${inspect(reason)}".] {\n  code: 'ERR_UNHANDLED_REJECTION'\n}\n\nNode.js ${NODE_VERSION}\n`);
      process.exitCode = 1;
      return exitWith();
    }
    return -1;
  };
  globalThis.__wasmjobs_fatal = (e) => {
    if (process.emit('uncaughtException', e, 'uncaughtException')) return -1;
    reportFatal(e);
    process.exitCode = 1;
    return exitWith();
  };
  globalThis.__wasmjobs_beforeExit = () => exitWith();
  globalThis.__wasmjobs_exitWith = (code) => { process.exitCode = code; return exitWith(); };
  globalThis.__wasmjobs_drainTicks = () => {
    try { drainTicks(); return -1; } catch (e) { return globalThis.__wasmjobs_fatal(e); }
  };
  // ES module source of a core module. Plain 'os' is Node's os merged
  // over QuickJS's (older QuickJS scripts import 'os' for os.sleep and
  // friends; Node's names win where both have one).
  globalThis.__wasmjobs_esmSource = (name) => {
    const c = coreName(name);
    if (!c) return null;
    const merged = name === 'os';
    const m = merged ? Object.assign({}, os, core.os()) : core[c]();
    const names = Object.keys(m).filter((k) => EXPORTABLE.test(k) && k !== 'default');
    const value = merged
      ? 'Object.assign({}, globalThis.os, globalThis.require("os"))'
      : `globalThis.require(${JSON.stringify(c)})`;
    return `const m = ${value};\nexport default m;\n` +
      names.map((k) => `export const ${k} = m[${JSON.stringify(k)}];`).join('\n');
  };

  // ---------- crypto (hashes in JS: sha256, sha1, md5; randomUUID)
  function makeCrypto() {
    function utf8(d) { return typeof d === 'string' ? encoder.encode(d) : d; }
    const rotl = (x, n) => (x << n) | (x >>> (32 - n));
    const rotr = (x, n) => (x >>> n) | (x << (32 - n));
    function pad(bytes, bigEndian) {
      const len = bytes.length, bits = len * 8;
      const n = (((len + 9 + 63) >> 6) << 6);
      const m = new Uint8Array(n);
      m.set(bytes); m[len] = 0x80;
      const dv = new DataView(m.buffer);
      if (bigEndian) { dv.setUint32(n - 8, Math.floor(bits / 2 ** 32)); dv.setUint32(n - 4, bits >>> 0); }
      else { dv.setUint32(n - 8, bits >>> 0, true); dv.setUint32(n - 4, Math.floor(bits / 2 ** 32), true); }
      return dv;
    }
    const K256 = [0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];
    const K256i = Int32Array.from(K256);
    const IV256 = Int32Array.of(0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19);
    const W256 = new Int32Array(64);
    // One 64-byte block of `dv` at `o` into the state `h` (typed arrays,
    // no allocation: PBKDF2 runs this thousands of times per login).
    function compress256(h, dv, o) {
      const w = W256, k = K256i;
      for (let i = 0; i < 16; i++) w[i] = dv.getInt32(o + i * 4);
      for (let i = 16; i < 64; i++) {
        const x = w[i - 15], y = w[i - 2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
      for (let i = 0; i < 64; i++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + k[i] + w[i]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
      h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + hh) | 0;
    }
    // SHA-256 of `bytes`, continuing from state `from` after `before`
    // bytes (whole blocks) were hashed into it (HMAC's saved key pads).
    function sha256(bytes, from = IV256, before = 0) {
      const len = bytes.length, bits = (len + before) * 8;
      const n = (((len + 9 + 63) >> 6) << 6);
      const m = new Uint8Array(n);
      m.set(bytes); m[len] = 0x80;
      const dv = new DataView(m.buffer);
      dv.setUint32(n - 8, Math.floor(bits / 2 ** 32)); dv.setUint32(n - 4, bits >>> 0);
      const h = Int32Array.from(from);
      for (let o = 0; o < n; o += 64) compress256(h, dv, o);
      return words(h, true);
    }
    function sha1(bytes) {
      const dv = pad(bytes, true);
      const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
      const w = new Array(80);
      for (let o = 0; o < dv.byteLength; o += 64) {
        for (let i = 0; i < 16; i++) w[i] = dv.getUint32(o + i * 4);
        for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        let [a, b, c, d, e] = h;
        for (let i = 0; i < 80; i++) {
          const [f, k] = i < 20 ? [(b & c) | (~b & d), 0x5a827999] : i < 40 ? [b ^ c ^ d, 0x6ed9eba1] : i < 60 ? [(b & c) | (b & d) | (c & d), 0x8f1bbcdc] : [b ^ c ^ d, 0xca62c1d6];
          const t = (rotl(a, 5) + f + e + k + w[i]) | 0;
          e = d; d = c; c = rotl(b, 30); b = a; a = t;
        }
        [a, b, c, d, e].forEach((x, i) => { h[i] = (h[i] + x) | 0; });
      }
      return words(h, true);
    }
    const S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21];
    const KM = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0);
    function md5(bytes) {
      const dv = pad(bytes, false);
      const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
      for (let o = 0; o < dv.byteLength; o += 64) {
        const m = Array.from({ length: 16 }, (_, i) => dv.getUint32(o + i * 4, true));
        let [a, b, c, d] = h;
        for (let i = 0; i < 64; i++) {
          let f, g;
          if (i < 16) { f = (b & c) | (~b & d); g = i; } else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; } else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; } else { f = c ^ (b | ~d); g = (7 * i) % 16; }
          const t = d; d = c; c = b;
          b = (b + rotl((a + f + KM[i] + m[g]) | 0, S[i])) | 0;
          a = t;
        }
        [a, b, c, d].forEach((x, i) => { h[i] = (h[i] + x) | 0; });
      }
      return words(h, false);
    }
    function words(h, bigEndian) {
      const out = new Uint8Array(h.length * 4);
      const dv = new DataView(out.buffer);
      h.forEach((x, i) => dv.setUint32(i * 4, x >>> 0, !bigEndian));
      return Buffer.from(out);
    }
    const algos = { sha256, sha1, md5 };
    function bytesOf(d, enc) {
      if (typeof d === 'string') return Buffer.from(d, enc);
      if (d instanceof ArrayBuffer) return new Uint8Array(d);
      if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
      throw new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, DataView or ArrayBuffer.');
    }
    function algoOf(name) {
      const n = String(typeof name === 'object' && name ? name.name : name).toLowerCase().replace('-', '');
      const alg = algos[n];
      if (!alg) throw new Error(`Invalid digest: ${name}`);
      return alg;
    }
    // HMAC-SHA-256 with the key's two padded blocks hashed once: `mac(msg)`.
    function hmac256(key) {
      let k = bytesOf(key);
      if (k.length > 64) k = sha256(k);
      const state = (x) => {
        const p = new Uint8Array(64);
        for (let i = 0; i < 64; i++) p[i] = (k[i] || 0) ^ x;
        const h = Int32Array.from(IV256);
        compress256(h, new DataView(p.buffer), 0);
        return h;
      };
      const inner = state(0x36), outer = state(0x5c);
      return (msg) => sha256(sha256(msg, inner, 64), outer, 64);
    }
    // HMAC (RFC 2104) over one of the digests (64-byte blocks, all three).
    function hmac(alg, key, msg) {
      if (alg === sha256) return hmac256(key)(msg);
      let k = bytesOf(key);
      if (k.length > 64) k = alg(k);
      const pad = (x) => { const p = new Uint8Array(64 + (x === 0x36 ? msg.length : 32)); for (let i = 0; i < 64; i++) p[i] = (k[i] || 0) ^ x; return p; };
      const inner = pad(0x36); inner.set(msg, 64);
      const ih = alg(inner);
      const outer = pad(0x5c).subarray(0, 64 + ih.length); outer.set(ih, 64);
      return alg(outer);
    }
    // PBKDF2 (RFC 8018) with HMAC of `alg`.
    function pbkdf2(alg, password, salt, iterations, keylen) {
      const p = bytesOf(password), s = bytesOf(salt);
      const mac = alg === sha256 ? hmac256(p) : (m) => hmac(alg, p, m);
      const out = Buffer.alloc(keylen);
      for (let block = 1, at = 0; at < keylen; block++) {
        const first = new Uint8Array(s.length + 4); first.set(s); new DataView(first.buffer).setUint32(s.length, block);
        let u = mac(first);
        const t = Uint8Array.from(u);
        for (let i = 1; i < iterations; i++) { u = mac(u); for (let j = 0; j < t.length; j++) t[j] ^= u[j]; }
        out.set(t.subarray(0, Math.min(t.length, keylen - at)), at);
        at += t.length;
      }
      return out;
    }
    const toArrayBuffer = (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    // WASI's random source only (never Math.random).
    function randomBytes(n) {
      return Buffer.from(native.random(n));
    }
    return {
      createHash(name) {
        const alg = algos[String(name).toLowerCase()];
        if (!alg) throw new Error(`Digest method not supported`);
        const parts = [];
        const h = {
          update(d, enc) { parts.push(typeof d === 'string' ? Buffer.from(d, enc) : d); return h; },
          digest(enc) { const r = alg(utf8(Buffer.concat(parts))); return enc ? r.toString(enc) : r; },
        };
        return h;
      },
      createHmac(name, key) {
        const alg = algoOf(name);
        const parts = [];
        const h = {
          update(d, enc) { parts.push(Buffer.from(bytesOf(d, enc))); return h; },
          digest(enc) { const r = Buffer.from(hmac(alg, key, Buffer.concat(parts))); return enc ? r.toString(enc) : r; },
        };
        return h;
      },
      pbkdf2Sync(password, salt, iterations, keylen, digest) { return pbkdf2(algoOf(digest), password, salt, iterations, keylen); },
      pbkdf2(password, salt, iterations, keylen, digest, cb) {
        let r, err = null;
        try { r = pbkdf2(algoOf(digest), password, salt, iterations, keylen); } catch (e) { err = e; }
        process.nextTick(() => cb(err, r));
      },
      timingSafeEqual(a, b) {
        if (a.length !== b.length) { const e = new RangeError('Input buffers must have the same byte length'); e.code = 'ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH'; throw e; }
        let d = 0;
        for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
        return d === 0;
      },
      randomBytes,
      randomUUID() {
        const b = randomBytes(16);
        b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
        const x = b.toString('hex');
        return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
      },
      getHashes: () => Object.keys(algos),
      // The Web Crypto surface Node 20 has (globalThis.crypto too): random
      // values, UUIDs and digests; subtle's keys and ciphers are not here.
      webcrypto: {
        getRandomValues(a) {
          if (!ArrayBuffer.isView(a)) throw new TypeError('The data argument must be an integer-type TypedArray');
          new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(randomBytes(a.byteLength));
          return a;
        },
        randomUUID() { return crypto.randomUUID(); },
        subtle: {
          async digest(name, data) { return toArrayBuffer(algoOf(name)(bytesOf(data))); },
          // Raw secret keys for HMAC and PBKDF2 (what drivers' SCRAM
          // logins use); other formats and algorithms are not here.
          async importKey(format, keyData, algorithm, extractable, usages) {
            if (format !== 'raw') throw new Error(`wasmjobs: only 'raw' keys can be imported, not '${format}'`);
            const name = typeof algorithm === 'string' ? algorithm : algorithm.name;
            if (!['HMAC', 'PBKDF2'].includes(String(name).toUpperCase())) throw new Error(`wasmjobs: importKey supports HMAC and PBKDF2, not ${name}`);
            const hash = typeof algorithm === 'object' && algorithm.hash ? algorithm.hash : 'SHA-256';
            return { type: 'secret', extractable: !!extractable, algorithm: { name: String(name).toUpperCase(), hash: { name: typeof hash === 'string' ? hash : hash.name } }, usages: usages || [], _raw: Uint8Array.from(bytesOf(keyData)) };
          },
          async sign(algorithm, key, data) {
            const name = typeof algorithm === 'string' ? algorithm : algorithm.name;
            if (String(name).toUpperCase() !== 'HMAC') throw new Error(`wasmjobs: sign supports HMAC, not ${name}`);
            return toArrayBuffer(hmac(algoOf(key.algorithm.hash), key._raw, bytesOf(data)));
          },
          async deriveBits(params, key, length) {
            if (String(params.name).toUpperCase() !== 'PBKDF2') throw new Error(`wasmjobs: deriveBits supports PBKDF2, not ${params.name}`);
            return toArrayBuffer(pbkdf2(algoOf(params.hash), key._raw, params.salt, params.iterations, length / 8));
          },
        },
      },
    };
  }
})();
