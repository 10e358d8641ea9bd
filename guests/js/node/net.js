// wasmjobs JS guest: Node's network modules (`net`, `tls`, `http`,
// `https`) and the web's `fetch` (with Headers, Request, Response, URL,
// URLSearchParams, AbortController), over the host's sockets.
//
// The host connects, resolves, speaks TLS (verifying against its own
// roots: a job's `rejectUnauthorized: false` or `ca` changes nothing) and
// holds every connection to the run's network policy; see
// src/runtime/wasm/sockets.rs. Here a socket is a handle: `connect`
// returns at once, and the host's events (connected, readable, failed,
// drained) arrive through `poll`, which main.c's event loop calls while
// any socket keeps the loop alive.
//
// Evaluated once, before the prelude, which calls the factory with its
// own EventEmitter, Buffer, process and timers.
globalThis.__wasmjobs_makeNet = function (lib) {
  'use strict';
  const { native, EventEmitter, Buffer, process, setTimeout, clearTimeout } = lib;

  // ---------- the host's sockets
  const CONNECTED = 1, READABLE = 2, FAILED = 4, DRAINED = 8;
  const MODE = { tcp: 0, tls: 1, http: 2, https: 3 };
  // A socket's writable high-water mark, as Node's default.
  const HIGH_WATER = 16384;
  const sockets = new Map();
  let live = 0;
  function setLive(d) { live += d; native.setLive(live); }

  // What the host's reason becomes as a Node error code.
  function netError(why, host, port) {
    const code = /: refused[: ]/.test(why) ? 'EACCES'
      : /cannot resolve|no address|not a name/.test(why) ? 'ENOTFOUND'
        : /Connection refused/i.test(why) ? 'ECONNREFUSED'
          : /no answer within|no handshake within/.test(why) ? 'ETIMEDOUT'
            : /NotValidForName/.test(why) ? 'ERR_TLS_CERT_ALTNAME_INVALID'
              : /Expired/.test(why) ? 'CERT_HAS_EXPIRED'
                : /certificate/i.test(why) ? 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
                  : 'ECONNRESET';
    const e = new Error(`connect ${code} ${host}:${port} - ${why}`);
    e.code = code; e.errno = code; e.syscall = 'connect'; e.address = host; e.port = port;
    return e;
  }

  // The readable side of a socket or a response: chunks flow to 'data'
  // listeners once something reads (a 'data' listener, resume, pipe or
  // async iteration), as Node's streams do.
  class Flow extends EventEmitter {
    constructor() { super(); this._queue = []; this._flowing = null; this._ended = false; this._endEmitted = false; this._enc = null; this.readable = true; }
    on(ev, fn) { super.on(ev, fn); if (ev === 'data' && this._flowing !== false) this.resume(); if (ev === 'readable') this._scheduleFlow(); return this; }
    addListener(ev, fn) { return this.on(ev, fn); }
    setEncoding(enc) { this._enc = enc || 'utf8'; return this; }
    pause() { this._flowing = false; return this; }
    resume() { this._flowing = true; this._scheduleFlow(); return this; }
    isPaused() { return this._flowing === false; }
    _scheduleFlow() { if (!this._flowScheduled) { this._flowScheduled = true; process.nextTick(() => { this._flowScheduled = false; this._flow(); }); } }
    _push(chunk) { this._queue.push(chunk); if (this._flowing) this._flow(); else if (this.listenerCount('readable')) this._scheduleFlow(); }
    _pushEnd() { this._ended = true; if (this._flowing || this._queue.length === 0) this._scheduleFlow(); }
    // Text as it arrives: a UTF-8 character split between two chunks is
    // held back until its end comes.
    _decode(c) {
      if (!this._enc) return c;
      if (!/^utf-?8$/i.test(this._enc)) return c.toString(this._enc);
      if (this._carry) { c = Buffer.concat([this._carry, c]); this._carry = null; }
      let cut = c.length;
      for (let i = c.length - 1; i >= 0 && i >= c.length - 3; i--) {
        const b = c[i];
        if ((b & 0xc0) === 0x80) continue;
        const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
        if (i + need > c.length) cut = i;
        break;
      }
      if (cut < c.length) { this._carry = Buffer.from(c.subarray(cut)); c = c.subarray(0, cut); }
      return c.toString('utf8');
    }
    _flow() {
      if (this.listenerCount('readable') && !this._flowing) { if (this._queue.length || this._ended) this.emit('readable'); }
      while (this._flowing && this._queue.length) this.emit('data', this._decode(this._queue.shift()));
      if (this._ended && !this._queue.length && !this._endEmitted && (this._flowing || this.listenerCount('readable') || this._readEnd)) {
        this._endEmitted = true; this.readable = false; this.emit('end'); this._afterEnd();
      }
    }
    _afterEnd() {}
    read() {
      if (!this._queue.length) { if (this._ended) { this._readEnd = true; this._scheduleFlow(); } return null; }
      const all = Buffer.concat(this._queue.splice(0));
      if (this._ended) { this._readEnd = true; this._scheduleFlow(); }
      return this._decode(all);
    }
    pipe(dest, opts) {
      this.on('data', (c) => { if (dest.write(c) === false && typeof dest.once === 'function') { this.pause(); dest.once('drain', () => this.resume()); } });
      if (!opts || opts.end !== false) this.on('end', () => { if (typeof dest.end === 'function') dest.end(); });
      return dest;
    }
    [Symbol.asyncIterator]() {
      const waiting = [];
      const pending = [];
      let done = false, failed = null;
      this.on('data', (c) => { const w = waiting.shift(); if (w) w.resolve({ value: c, done: false }); else pending.push(c); });
      this.on('end', () => { done = true; for (const w of waiting.splice(0)) w.resolve({ value: undefined, done: true }); });
      this.on('error', (e) => { failed = e; for (const w of waiting.splice(0)) w.reject(e); });
      return {
        next: () => {
          if (pending.length) return Promise.resolve({ value: pending.shift(), done: false });
          if (failed) return Promise.reject(failed);
          if (done) return Promise.resolve({ value: undefined, done: true });
          return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
        },
        return: () => { this.destroy && this.destroy(); return Promise.resolve({ value: undefined, done: true }); },
        [Symbol.asyncIterator]() { return this; },
      };
    }
  }

  // net.Socket: a TCP (or, for tls, TLS) stream through the host.
  class Socket extends Flow {
    constructor(opts = {}) {
      super();
      this._h = 0; this._mode = MODE.tcp; this._out = []; this._ending = false; this._finished = false; this._refed = true;
      this.connecting = false; this.destroyed = false; this.pending = true; this.writable = true;
      this.bytesRead = 0; this.bytesWritten = 0; this.allowHalfOpen = !!opts.allowHalfOpen;
      this.remoteAddress = undefined; this.remotePort = undefined; this.remoteFamily = undefined;
      this._timeoutMs = 0; this._timer = null;
    }
    get readyState() { return this.connecting ? 'opening' : this.destroyed ? 'closed' : this.writable && this.readable ? 'open' : this.readable ? 'readOnly' : 'writeOnly'; }
    connect(...args) {
      let opts = args[0], cb = args[args.length - 1];
      if (typeof cb !== 'function') cb = undefined;
      if (typeof opts !== 'object' || opts === null) opts = { port: args[0], host: typeof args[1] === 'string' ? args[1] : undefined };
      if (opts.path) throw Object.assign(new Error('connect ENOENT: Unix sockets are not available in the wasmjobs sandbox'), { code: 'ENOENT' });
      const host = opts.host || opts.hostname || 'localhost';
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port <= 0 || port > 65535) {
        const e = new RangeError(`Port should be > 0 and < 65536. Received ${opts.port}.`); e.code = 'ERR_SOCKET_BAD_PORT'; throw e;
      }
      if (cb) this.once(this._mode === MODE.tls || this._mode === MODE.https ? 'secureConnect' : 'connect', cb);
      if (opts.timeout) this.setTimeout(opts.timeout);
      this._host = host; this._port = port;
      this.connecting = true;
      this._h = native.connect(host, port, this._mode);
      if (this._h <= 0) { const why = native.error(0) || 'the host took no connection'; this._h = 0; process.nextTick(() => this.destroy(netError(why, host, port))); return this; }
      sockets.set(this._h, this);
      if (this._refed) setLive(1);
      return this;
    }
    _events_(ev) {
      if (this.destroyed) return;
      if (ev & CONNECTED) {
        this.connecting = false; this.pending = false;
        this.remoteAddress = this._host; this.remotePort = this._port; this.remoteFamily = this._host.includes(':') ? 'IPv6' : 'IPv4';
        this._touch();
        if (this._mode === MODE.tls || this._mode === MODE.https) { this.authorized = true; this.encrypted = true; this.emit('secureConnect'); }
        this.emit('connect'); this.emit('ready');
        this._flushOut();
      }
      if (ev & READABLE) this._readAll();
      if (ev & DRAINED) this._flushOut();
      if (ev & FAILED) { this._readAll(); this.destroy(netError(native.error(this._h), this._host, this._port)); }
    }
    _readAll() {
      for (;;) {
        if (this.destroyed || !this._h) return;
        const r = native.recv(this._h);
        if (r === -1 || r === -2) return;
        if (r === 0) { if (!this._ended) { this._touch(); this._pushEnd(); } return; }
        const b = Buffer.from(r);
        this.bytesRead += b.length; this._touch();
        this._push(b);
      }
    }
    _afterEnd() {
      if (!this.allowHalfOpen && !this._ending) this.end();
      this._maybeClose();
    }
    _maybeClose() { if (this._endEmitted && this._finished) this.destroy(); }
    write(data, enc, cb) {
      if (typeof enc === 'function') { cb = enc; enc = undefined; }
      if (this.destroyed || this._ending) {
        const e = Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' });
        process.nextTick(() => { if (cb) cb(e); this.emit('error', e); });
        return false;
      }
      const b = typeof data === 'string' ? Buffer.from(data, enc) : data instanceof Uint8Array ? data : Buffer.from(data);
      this._out.push([b, cb]);
      this.bytesWritten += b.length;
      if (!this.connecting) this._flushOut();
      // Node's rule: false once more than the high-water mark waits, and
      // then 'drain' when it has gone.
      const ok = this._out.reduce((n, [x]) => n + x.length, 0) < HIGH_WATER;
      if (!ok) this._needDrain = true;
      return ok;
    }
    _flushOut() {
      if (this.connecting || this.destroyed || !this._h) return;
      const hadBacklog = this._needDrain;
      while (this._out.length) {
        const [b, cb] = this._out[0];
        const n = native.send(this._h, b);
        if (n < 0) return;
        if (n < b.length) { this._out[0][0] = b.subarray(n); return; }
        this._out.shift();
        if (cb) process.nextTick(cb);
      }
      if (hadBacklog) { this._needDrain = false; this.emit('drain'); }
      if (this._ending && !this._finished) {
        native.end(this._h); this._finished = true; this.writable = false;
        process.nextTick(() => { this.emit('finish'); this._maybeClose(); });
      }
    }
    end(data, enc, cb) {
      if (typeof data === 'function') { cb = data; data = undefined; } else if (typeof enc === 'function') { cb = enc; enc = undefined; }
      if (data !== undefined && data !== null) this.write(data, enc);
      if (cb) this.once('finish', cb);
      if (!this._ending) { this._ending = true; if (!this.connecting) this._flushOut(); }
      return this;
    }
    destroy(err) {
      if (this.destroyed) return this;
      this.destroyed = true; this.connecting = false; this.readable = false; this.writable = false;
      if (this._timer) clearTimeout(this._timer);
      if (this._h) { native.close(this._h); sockets.delete(this._h); if (this._refed) setLive(-1); }
      process.nextTick(() => { if (err) this.emit('error', err); this.emit('close', !!err); });
      return this;
    }
    destroySoon() { this.end(); }
    resetAndDestroy() { return this.destroy(); }
    setTimeout(ms, cb) {
      this._timeoutMs = ms; if (cb) this.once('timeout', cb);
      this._touch();
      return this;
    }
    _touch() {
      if (this._timer) { clearTimeout(this._timer); this._timer = null; }
      if (this._timeoutMs > 0 && !this.destroyed) { this._timer = setTimeout(() => { this._timer = null; this.emit('timeout'); }, this._timeoutMs); if (this._timer.unref) this._timer.unref(); }
    }
    setNoDelay() { return this; }
    setKeepAlive() { return this; }
    address() { return {}; }
    ref() { if (!this._refed) { this._refed = true; if (this._h && !this.destroyed) setLive(1); } return this; }
    unref() { if (this._refed) { this._refed = false; if (this._h && !this.destroyed) setLive(-1); } return this; }
    cork() {}
    uncork() {}
  }

  function connectArgs(args) {
    if (typeof args[0] === 'object' && args[0] !== null) return [args[0], typeof args[1] === 'function' ? args[1] : undefined];
    const opts = { port: args[0] };
    let cb;
    for (const a of args.slice(1)) { if (typeof a === 'string') opts.host = a; else if (typeof a === 'function') cb = a; else if (a && typeof a === 'object') Object.assign(opts, a); }
    return [opts, cb];
  }
  function isIPv4(s) { return /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s); }
  function isIPv6(s) { return typeof s === 'string' && s.includes(':') && /^[0-9a-fA-F:.]+(%.+)?$/.test(s) && (s.match(/::/g) || []).length <= 1; }
  const net = {
    Socket, Stream: Socket,
    connect(...args) { const [opts, cb] = connectArgs(args); return new Socket(opts).connect(opts, cb); },
    isIP: (s) => (isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0), isIPv4, isIPv6,
    createServer() { const e = new Error('net.createServer: a job cannot listen in the wasmjobs sandbox (only outbound connections, as its settings.job "network" allows)'); e.code = 'ERR_UNAVAILABLE_IN_SANDBOX'; throw e; },
  };
  net.createConnection = net.connect;

  // tls: the host's TLS, verified against the host's roots.
  class TLSSocket extends Socket {
    constructor(opts = {}) { super(opts); this._mode = MODE.tls; this.authorized = false; this.encrypted = true; }
    getPeerCertificate() { return {}; }
    getProtocol() { return 'TLSv1.3'; }
    setServername() {}
  }
  const tls = {
    TLSSocket,
    connect(...args) {
      const [opts, cb] = connectArgs(args);
      if (opts.socket) {
        const e = new Error('tls.connect({ socket }): upgrading an open connection to TLS (STARTTLS) is not available in the wasmjobs sandbox; connect with TLS from the start (tls:// or https:// in settings.job)');
        e.code = 'ERR_UNAVAILABLE_IN_SANDBOX';
        throw e;
      }
      return new TLSSocket(opts).connect({ ...opts, host: opts.host || opts.servername || 'localhost' }, cb);
    },
    createSecureContext: (o) => ({ context: {}, options: o }),
    checkServerIdentity: () => undefined,
    rootCertificates: [],
    DEFAULT_MIN_VERSION: 'TLSv1.2', DEFAULT_MAX_VERSION: 'TLSv1.3',
    createServer() { return net.createServer(); },
  };

  // ---------- http, https: HTTP/1.1 clients
  const STATUS_CODES = {
    100: 'Continue', 101: 'Switching Protocols', 200: 'OK', 201: 'Created', 202: 'Accepted', 203: 'Non-Authoritative Information', 204: 'No Content',
    205: 'Reset Content', 206: 'Partial Content', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect',
    308: 'Permanent Redirect', 400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
    406: 'Not Acceptable', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone', 411: 'Length Required', 412: 'Precondition Failed', 413: 'Payload Too Large',
    414: 'URI Too Long', 415: 'Unsupported Media Type', 416: 'Range Not Satisfiable', 417: 'Expectation Failed', 418: "I'm a Teapot", 422: 'Unprocessable Entity',
    425: 'Too Early', 426: 'Upgrade Required', 428: 'Precondition Required', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
    451: 'Unavailable For Legal Reasons', 500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
    504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
  };
  const METHODS = ['ACL', 'BIND', 'CHECKOUT', 'CONNECT', 'COPY', 'DELETE', 'GET', 'HEAD', 'LINK', 'LOCK', 'M-SEARCH', 'MERGE', 'MKACTIVITY', 'MKCALENDAR', 'MKCOL', 'MOVE', 'NOTIFY', 'OPTIONS', 'PATCH', 'POST', 'PROPFIND', 'PROPPATCH', 'PURGE', 'PUT', 'QUERY', 'REBIND', 'REPORT', 'SEARCH', 'SOURCE', 'SUBSCRIBE', 'TRACE', 'UNBIND', 'UNLINK', 'UNLOCK', 'UNSUBSCRIBE'];

  class IncomingMessage extends Flow {
    constructor(socket) {
      super();
      this.socket = socket; this.headers = {}; this.rawHeaders = []; this.trailers = {}; this.rawTrailers = [];
      this.httpVersion = '1.1'; this.httpVersionMajor = 1; this.httpVersionMinor = 1; this.complete = false; this.aborted = false;
      this.statusCode = 0; this.statusMessage = ''; this.url = ''; this.method = null;
    }
    get connection() { return this.socket; }
    setTimeout(ms, cb) { this.socket.setTimeout(ms, cb); return this; }
    destroy(err) { this.socket.destroy(err); return this; }
    _afterEnd() { process.nextTick(() => this.emit('close')); }
  }

  // Reads a response off the socket: the head, then a body by its length,
  // its chunks, or up to the close.
  class ResponseReader {
    constructor(req) { this.req = req; this.buf = Buffer.alloc(0); this.res = null; this.left = 0; this.mode = 'head'; }
    feed(chunk) {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      for (;;) {
        if (this.mode === 'head') {
          const end = this.buf.indexOf('\r\n\r\n');
          if (end < 0) { if (this.buf.length > 64 << 10) this.req._fail(Object.assign(new Error('Parse Error: Header overflow'), { code: 'HPE_HEADER_OVERFLOW' })); return; }
          const head = this.buf.subarray(0, end).toString('latin1');
          this.buf = this.buf.subarray(end + 4);
          if (!this.head(head)) return;
        } else if (this.mode === 'length') {
          if (!this.buf.length) return;
          const take = this.buf.subarray(0, Math.min(this.left, this.buf.length));
          this.buf = this.buf.subarray(take.length); this.left -= take.length;
          this.res._push(Buffer.from(take));
          if (this.left === 0) return this.done();
        } else if (this.mode === 'chunked') {
          if (this.left > 0) {
            if (!this.buf.length) return;
            const take = this.buf.subarray(0, Math.min(this.left, this.buf.length));
            this.buf = this.buf.subarray(take.length); this.left -= take.length;
            this.res._push(Buffer.from(take));
            if (this.left === 0) this.left = -1; // its CRLF
            continue;
          }
          const eol = this.buf.indexOf('\r\n');
          if (eol < 0) return;
          const line = this.buf.subarray(0, eol).toString('latin1');
          this.buf = this.buf.subarray(eol + 2);
          if (this.left === -1) { this.left = 0; continue; }
          if (this.trailing) { if (line === '') return this.done(); const i = line.indexOf(':'); if (i > 0) this.res.trailers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim(); continue; }
          const size = /^[0-9a-fA-F]+(;.*)?$/.test(line) ? parseInt(line, 16) : NaN;
          if (Number.isNaN(size)) return this.req._fail(Object.assign(new Error('Parse Error: Invalid character in chunk size'), { code: 'HPE_INVALID_CHUNK_SIZE' }));
          if (size === 0) { this.trailing = true; continue; }
          this.left = size;
        } else if (this.mode === 'close') {
          if (this.buf.length) { this.res._push(Buffer.from(this.buf)); this.buf = Buffer.alloc(0); }
          return;
        } else return;
      }
    }
    head(text) {
      const lines = text.split('\r\n');
      const m = /^HTTP\/(\d)\.(\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
      if (!m) { this.req._fail(Object.assign(new Error('Parse Error: Expected HTTP/'), { code: 'HPE_INVALID_CONSTANT' })); return false; }
      const status = Number(m[3]);
      if (status >= 100 && status < 200 && status !== 101) { this.req.emit('information', { statusCode: status }); return true; }
      const res = new IncomingMessage(this.req.socket);
      res.httpVersionMajor = Number(m[1]); res.httpVersionMinor = Number(m[2]); res.httpVersion = `${m[1]}.${m[2]}`;
      res.statusCode = status; res.statusMessage = m[4] || '';
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':'); if (i <= 0) continue;
        const name = l.slice(0, i).trim(), value = l.slice(i + 1).trim(), key = name.toLowerCase();
        res.rawHeaders.push(name, value);
        if (key === 'set-cookie') (res.headers[key] = res.headers[key] || []).push(value);
        else if (key in res.headers) res.headers[key] += (key === 'cookie' ? '; ' : ', ') + value;
        else res.headers[key] = value;
      }
      this.res = res;
      const te = (res.headers['transfer-encoding'] || '').toLowerCase();
      if (this.req.method === 'HEAD' || status === 204 || status === 304) this.mode = 'none';
      else if (te.includes('chunked')) { this.mode = 'chunked'; this.left = 0; }
      else if (res.headers['content-length'] !== undefined) {
        const cl = res.headers['content-length'];
        if (!/^\d+$/.test(cl)) { this.req._fail(Object.assign(new Error('Parse Error: Invalid Content-Length'), { code: 'HPE_INVALID_CONTENT_LENGTH' })); return false; }
        this.left = Number(cl); this.mode = this.left > 0 ? 'length' : 'none';
      }
      else this.mode = 'close';
      this.req._response(res);
      if (this.mode === 'none') this.done();
      return true;
    }
    done() { if (this.mode === 'done') return; this.mode = 'done'; this.res.complete = true; this.res._pushEnd(); this.req._finished(); }
    closed() {
      if (this.mode === 'close') return this.done();
      if (this.mode !== 'done') this.req._fail(Object.assign(new Error(this.res ? 'aborted' : 'socket hang up'), { code: 'ECONNRESET' }));
    }
  }

  class ClientRequest extends EventEmitter {
    constructor(opts, cb, secure) {
      super();
      const protocol = opts.protocol || (secure ? 'https:' : 'http:');
      if (protocol !== (secure ? 'https:' : 'http:')) {
        const e = new TypeError(`Protocol "${protocol}" not supported. Expected "${secure ? 'https:' : 'http:'}"`); e.code = 'ERR_INVALID_PROTOCOL'; throw e;
      }
      this.method = String(opts.method || 'GET').toUpperCase();
      this.path = opts.path || '/';
      this.host = String(opts.hostname || opts.host || 'localhost').replace(/^\[(.*)\]$/, '$1');
      this.port = Number(opts.port) || (secure ? 443 : 80);
      this.protocol = protocol; this._secure = secure;
      this._headers = new Map();
      const h = opts.headers || {};
      if (Array.isArray(h)) { for (let i = 0; i + 1 < h.length; i += 2) this.setHeader(h[i], h[i + 1]); }
      else for (const k of Object.keys(h)) if (h[k] !== undefined) this.setHeader(k, h[k]);
      if (opts.auth && !this.hasHeader('authorization')) this.setHeader('Authorization', 'Basic ' + Buffer.from(opts.auth).toString('base64'));
      this._body = []; this.finished = false; this.aborted = false; this.destroyed = false; this.writableEnded = false; this.reusedSocket = false;
      this._timeout = opts.timeout;
      if (cb) this.once('response', cb);
      if (opts.signal) {
        const s = opts.signal;
        if (s.aborted) process.nextTick(() => this.destroy(abortError(s.reason)));
        else s.addEventListener('abort', () => this.destroy(abortError(s.reason)));
      }
      this.socket = null;
    }
    setHeader(n, v) { this._headers.set(String(n).toLowerCase(), [String(n), v]); return this; }
    getHeader(n) { const e = this._headers.get(String(n).toLowerCase()); return e && e[1]; }
    getHeaders() { const o = {}; for (const [k, [, v]] of this._headers) o[k] = v; return o; }
    getHeaderNames() { return [...this._headers.keys()]; }
    getRawHeaderNames() { return [...this._headers.values()].map(([n]) => n); }
    hasHeader(n) { return this._headers.has(String(n).toLowerCase()); }
    removeHeader(n) { this._headers.delete(String(n).toLowerCase()); }
    flushHeaders() {}
    setNoDelay() {}
    setSocketKeepAlive() {}
    setTimeout(ms, cb) { this._timeout = ms; if (cb) this.once('timeout', cb); if (this.socket) this.socket.setTimeout(ms); return this; }
    write(chunk, enc, cb) {
      if (typeof enc === 'function') { cb = enc; enc = undefined; }
      if (this.writableEnded) { const e = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' }); process.nextTick(() => this.emit('error', e)); return false; }
      this._body.push(typeof chunk === 'string' ? Buffer.from(chunk, enc) : Buffer.from(chunk));
      if (cb) process.nextTick(cb);
      return true;
    }
    end(chunk, enc, cb) {
      if (typeof chunk === 'function') { cb = chunk; chunk = undefined; } else if (typeof enc === 'function') { cb = enc; enc = undefined; }
      if (this.writableEnded) return this;
      if (chunk !== undefined && chunk !== null) this.write(chunk, enc);
      this.writableEnded = true;
      if (cb) this.once('finish', cb);
      process.nextTick(() => this._send());
      return this;
    }
    _send() {
      if (this.destroyed) return;
      const body = Buffer.concat(this._body);
      const hostHeader = this.host.includes(':') ? `[${this.host}]` : this.host;
      const defaultPort = this._secure ? 443 : 80;
      let head = `${this.method} ${this.path} HTTP/1.1\r\n`;
      if (!this.hasHeader('host')) head += `Host: ${hostHeader}${this.port === defaultPort ? '' : ':' + this.port}\r\n`;
      for (const [k, [n, v]] of this._headers) {
        if (k === 'connection' || k === 'transfer-encoding' || (k === 'content-length')) continue;
        for (const one of Array.isArray(v) ? v : [v]) head += `${n}: ${one}\r\n`;
      }
      if (body.length || !['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'].includes(this.method)) head += `Content-Length: ${body.length}\r\n`;
      head += 'Connection: close\r\n\r\n';
      const s = new (this._secure ? TLSSocket : Socket)();
      s._mode = this._secure ? MODE.https : MODE.http;
      this.socket = this.connection = s;
      const reader = new ResponseReader(this);
      s.on('data', (c) => reader.feed(c));
      s.on('end', () => reader.closed());
      s.on('error', (e) => this._fail(e));
      s.on('timeout', () => this.emit('timeout'));
      if (this._timeout) s.setTimeout(this._timeout);
      s.connect({ host: this.host, port: this.port });
      this.emit('socket', s);
      s.write(Buffer.concat([Buffer.from(head, 'latin1'), body]), () => { this.finished = true; this.emit('finish'); });
    }
    _response(res) {
      this.res = res;
      if (!this.emit('response', res)) res.resume();
    }
    _finished() { if (this.socket) this.socket.destroy(); process.nextTick(() => this.emit('close')); }
    _fail(e) {
      if (this._failed) return; this._failed = true;
      if (this.res && !this.res.complete) {
        // (As Node: the response's error only reaches a listener; a body
        // read later, by fetch's text() say, rejects with it.)
        this.res.aborted = true; this.res._failedWith = e; this.res.emit('aborted');
        if (this.res.listenerCount('error')) this.res.emit('error', e);
      }
      else if (!this.res) this.emit('error', e);
      if (this.socket) this.socket.destroy();
      process.nextTick(() => this.emit('close'));
    }
    abort() { this.aborted = true; this.destroy(); }
    destroy(err) {
      if (this.destroyed) return this;
      this.destroyed = true;
      const e = err || Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      if (this.socket) this.socket.destroy();
      if (!this.res || !this.res.complete) this._fail(e);
      return this;
    }
  }

  class Agent extends EventEmitter {
    constructor(opts = {}) { super(); this.options = opts; this.keepAlive = !!opts.keepAlive; this.maxSockets = opts.maxSockets || Infinity; this.maxFreeSockets = opts.maxFreeSockets || 256; this.sockets = {}; this.freeSockets = {}; this.requests = {}; }
    destroy() {}
  }

  function httpModule(secure) {
    function request(a, b, c) {
      let opts = {}, cb;
      if (typeof a === 'string' || a instanceof URL) {
        const u = a instanceof URL ? a : new URL(a);
        opts = { protocol: u.protocol, hostname: u.hostname, port: u.port, path: u.pathname + u.search, auth: u.username ? `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` : undefined };
        if (typeof b === 'object' && b !== null) Object.assign(opts, b); else if (typeof b === 'function') cb = b;
        if (typeof c === 'function') cb = c;
      } else { opts = { ...(a || {}) }; cb = typeof b === 'function' ? b : undefined; }
      return new ClientRequest(opts, cb, secure);
    }
    function get(...args) { const r = request(...args); r.end(); return r; }
    const globalAgent = new Agent();
    return {
      request, get, Agent, globalAgent, ClientRequest, IncomingMessage, STATUS_CODES, METHODS, maxHeaderSize: 16384,
      createServer() { return net.createServer(); },
      validateHeaderName() {}, validateHeaderValue() {},
    };
  }
  const http = httpModule(false);
  const https = httpModule(true);

  // ---------- dns: the host resolves the names a job connects to (and
  // only those its patterns name); the guest looks nothing up itself.
  function notHere(name, syscall) {
    const e = new Error(`${syscall} ENOTFOUND ${name}: a job's names are resolved by the host when it connects (net.connect, http, fetch); the guest looks nothing up itself`);
    e.code = 'ENOTFOUND'; e.errno = -3008; e.syscall = syscall; e.hostname = name;
    return e;
  }
  function lookupNow(name, opts) {
    const family = typeof opts === 'number' ? opts : (opts && opts.family) || 0;
    const bare = String(name).replace(/^\[(.*)\]$/, '$1');
    const v = isIPv4(bare) ? 4 : isIPv6(bare) ? 6 : 0;
    if (v && (!family || family === v)) return { address: bare, family: v };
    if (bare === 'localhost') return family === 6 ? { address: '::1', family: 6 } : { address: '127.0.0.1', family: 4 };
    throw notHere(name, 'getaddrinfo');
  }
  const dns = {
    lookup(name, opts, cb) {
      if (typeof opts === 'function') { cb = opts; opts = {}; }
      let r, err = null;
      try { r = lookupNow(name, opts); } catch (e) { err = e; }
      process.nextTick(() => {
        if (err) return cb(err);
        if (opts && opts.all) cb(null, [r]); else cb(null, r.address, r.family);
      });
    },
    resolve(name, type, cb) { if (typeof type === 'function') cb = type; process.nextTick(() => cb(notHere(name, 'queryA'))); },
    promises: {
      lookup: async (name, opts) => { const r = lookupNow(name, opts); return opts && opts.all ? [r] : r; },
      resolve: async (name) => { throw notHere(name, 'queryA'); },
    },
    ADDRCONFIG: 1024, V4MAPPED: 2048, ALL: 256, NOTFOUND: 'ENOTFOUND',
  };
  for (const k of ['resolve4', 'resolve6', 'resolveAny', 'resolveCname', 'resolveMx', 'resolveNs', 'resolveSrv', 'resolveTxt', 'reverse']) {
    dns[k] = (name, a, b) => process.nextTick(() => (typeof a === 'function' ? a : b)(notHere(name, 'query')));
    dns.promises[k] = async (name) => { throw notHere(name, 'query'); };
  }
  dns.setServers = () => {};
  dns.getServers = () => [];

  // ---------- URL, URLSearchParams (the WHATWG rules for http(s) and the common cases)
  const SPECIAL = { 'http:': 80, 'https:': 443, 'ws:': 80, 'wss:': 443, 'ftp:': 21, 'file:': null };
  function invalidUrl(input) { const e = new TypeError(`Invalid URL`); e.code = 'ERR_INVALID_URL'; e.input = input; return e; }
  function encodePart(s, keep) { return s.replace(/[^\u0021-\u007e]|["<>`{}]/gu, (c) => (keep && keep.includes(c) ? c : encodeURIComponent(c))); }
  function dots(path) {
    const out = [];
    const segs = path.split('/');
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      if (s === '..' || s.toLowerCase() === '%2e%2e') { if (out.length > 1) out.pop(); if (i === segs.length - 1) out.push(''); }
      else if (s === '.' || s.toLowerCase() === '%2e') { if (i === segs.length - 1) out.push(''); }
      else out.push(s);
    }
    return out.join('/');
  }
  class URLSearchParams {
    constructor(init) {
      this._list = [];
      if (init === undefined || init === null) return;
      if (typeof init === 'string') this._parse(init);
      else if (init instanceof URLSearchParams) this._list = init._list.map((p) => [...p]);
      else if (typeof init[Symbol.iterator] === 'function') for (const [k, v] of init) this._list.push([String(k), String(v)]);
      else for (const k of Object.keys(init)) this._list.push([k, String(init[k])]);
    }
    _parse(s) {
      this._list = [];
      for (const part of s.replace(/^\?/, '').split('&')) {
        if (!part) continue;
        const i = part.indexOf('=');
        const dec = (x) => { try { return decodeURIComponent(x.replace(/\+/g, ' ')); } catch { return x; } };
        this._list.push(i < 0 ? [dec(part), ''] : [dec(part.slice(0, i)), dec(part.slice(i + 1))]);
      }
    }
    _changed() { if (this._url) this._url._search = this._list.length ? '?' + this.toString() : ''; }
    get size() { return this._list.length; }
    append(k, v) { this._list.push([String(k), String(v)]); this._changed(); }
    delete(k) { this._list = this._list.filter(([n]) => n !== String(k)); this._changed(); }
    get(k) { const p = this._list.find(([n]) => n === String(k)); return p ? p[1] : null; }
    getAll(k) { return this._list.filter(([n]) => n === String(k)).map(([, v]) => v); }
    has(k) { return this._list.some(([n]) => n === String(k)); }
    set(k, v) {
      k = String(k); const i = this._list.findIndex(([n]) => n === k);
      if (i < 0) this._list.push([k, String(v)]); else { this._list[i][1] = String(v); this._list = this._list.filter(([n], j) => n !== k || j === i); }
      this._changed();
    }
    sort() { this._list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this._changed(); }
    forEach(fn, self) { for (const [k, v] of this._list) fn.call(self, v, k, this); }
    keys() { return this._list.map(([k]) => k)[Symbol.iterator](); }
    values() { return this._list.map(([, v]) => v)[Symbol.iterator](); }
    entries() { return this._list.map((p) => [...p])[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    toString() {
      const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
      return this._list.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
    }
    get [Symbol.toStringTag]() { return 'URLSearchParams'; }
  }
  class URL {
    constructor(input, base) {
      const text = String(input).replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '').replace(/[\t\n\r]/g, '');
      const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$/s.exec(text);
      if (m) this._absolute(m[1].toLowerCase() + ':', m[2], input);
      else {
        if (base === undefined) throw invalidUrl(input);
        this._relative(text, base instanceof URL ? base : new URL(base), input);
      }
    }
    _absolute(protocol, rest, input) {
      this._protocol = protocol; this._username = ''; this._password = ''; this._host = ''; this._port = ''; this._search = ''; this._hash = '';
      const h = rest.indexOf('#'); if (h >= 0) { this._hash = encodePart(rest.slice(h)); rest = rest.slice(0, h); }
      const q = rest.indexOf('?'); if (q >= 0) { this._search = encodePart(rest.slice(q), "'"); rest = rest.slice(0, q); }
      const special = protocol in SPECIAL;
      if (special) rest = rest.replace(/\\/g, '/');
      if (special || rest.startsWith('//')) {
        if (special) rest = rest.replace(/^\/*/, ''); else rest = rest.slice(2);
        const end = rest.search(/[/?#]/);
        const auth = end < 0 ? rest : rest.slice(0, end);
        let path = end < 0 ? '' : rest.slice(end);
        this._authority(auth, special, input);
        this._path = special ? dots(encodePart(path || '/')) || '/' : encodePart(path);
      } else {
        this._opaque = true;
        this._path = encodePart(rest);
      }
    }
    _authority(auth, special, input) {
      const at = auth.lastIndexOf('@');
      if (at >= 0) {
        const cred = auth.slice(0, at); auth = auth.slice(at + 1);
        const c = cred.indexOf(':');
        this._username = encodePart(c < 0 ? cred : cred.slice(0, c), ''); this._password = c < 0 ? '' : encodePart(cred.slice(c + 1), '');
      }
      let host = auth, port = '';
      const pm = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(auth);
      if (!pm) throw invalidUrl(input);
      host = pm[1]; port = pm[2] || '';
      if (special && !host && this._protocol !== 'file:') throw invalidUrl(input);
      if (/[\s#%/:<>?@[\\\]^|]/.test(host.replace(/^\[.*\]$/, ''))) throw invalidUrl(input);
      if (port && Number(port) > 65535) throw invalidUrl(input);
      this._host = special ? host.toLowerCase() : host;
      this._port = port && Number(port) !== SPECIAL[this._protocol] ? String(Number(port)) : '';
    }
    _relative(text, base, input) {
      this._protocol = base._protocol; this._username = base._username; this._password = base._password; this._host = base._host; this._port = base._port;
      this._search = base._search; this._hash = '';
      if (base._opaque) { if (text.startsWith('#')) { this._opaque = true; this._path = base._path; this._hash = encodePart(text); return; } throw invalidUrl(input); }
      if (text.startsWith('//') || ((this._protocol in SPECIAL) && /^[\\/]{2}/.test(text))) return this._absolute(this._protocol, text.replace(/^[\\/]{2}/, '//'), input);
      let rest = text;
      const h = rest.indexOf('#'); if (h >= 0) { this._hash = encodePart(rest.slice(h)); rest = rest.slice(0, h); }
      const q = rest.indexOf('?'); if (q >= 0) { this._search = encodePart(rest.slice(q), "'"); rest = rest.slice(0, q); } else if (rest) this._search = '';
      if (!rest) { this._path = base._path; return; }
      rest = rest.replace(/\\/g, '/');
      const path = rest.startsWith('/') ? rest : base._path.replace(/[^/]*$/, '') + rest;
      this._path = dots(encodePart(path)) || '/';
    }
    get protocol() { return this._protocol; }
    set protocol(v) { v = String(v).replace(/:.*$/, '').toLowerCase() + ':'; if ((v in SPECIAL) === (this._protocol in SPECIAL)) { this._protocol = v; if (Number(this._port) === SPECIAL[v]) this._port = ''; } }
    get username() { return this._username; }
    set username(v) { this._username = encodePart(String(v), ''); }
    get password() { return this._password; }
    set password(v) { this._password = encodePart(String(v), ''); }
    get hostname() { return this._host; }
    set hostname(v) { if (!this._opaque) this._host = String(v).toLowerCase(); }
    get port() { return this._port; }
    set port(v) { v = String(v); if (v === '') this._port = ''; else if (/^\d+/.test(v) && Number(v.match(/^\d+/)[0]) <= 65535) { const n = Number(v.match(/^\d+/)[0]); this._port = n === SPECIAL[this._protocol] ? '' : String(n); } }
    get host() { return this._host + (this._port ? ':' + this._port : ''); }
    set host(v) { const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(String(v)); if (m && !this._opaque) { this._host = m[1].toLowerCase(); if (m[2] !== undefined) this.port = m[2]; } }
    get origin() { return this._protocol in SPECIAL && this._protocol !== 'file:' ? `${this._protocol}//${this.host}` : 'null'; }
    get pathname() { return this._path; }
    set pathname(v) { if (!this._opaque) { v = String(v); this._path = dots(encodePart(v.startsWith('/') ? v : '/' + v)); } }
    get search() { return this._search.length > 1 ? this._search : ''; }
    set search(v) { v = String(v); this._search = v === '' ? '' : encodePart(v.startsWith('?') ? v : '?' + v, "'"); if (this._params) this._params._parse(this._search); }
    get searchParams() { if (!this._params) { this._params = new URLSearchParams(this.search); this._params._url = this; } return this._params; }
    get hash() { return this._hash.length > 1 ? this._hash : ''; }
    set hash(v) { v = String(v); this._hash = v === '' ? '' : encodePart(v.startsWith('#') ? v : '#' + v); }
    get href() {
      if (this._opaque) return `${this._protocol}${this._path}${this.search}${this.hash}`;
      const cred = this._username || this._password ? `${this._username}${this._password ? ':' + this._password : ''}@` : '';
      return `${this._protocol}//${cred}${this.host}${this._path}${this.search}${this.hash}`;
    }
    set href(v) { const u = new URL(v); Object.assign(this, u); }
    toString() { return this.href; }
    toJSON() { return this.href; }
    static canParse(u, b) { try { new URL(u, b); return true; } catch { return false; } }
    static parse(u, b) { try { return new URL(u, b); } catch { return null; } }
    get [Symbol.toStringTag]() { return 'URL'; }
  }

  // ---------- AbortController, AbortSignal (with EventTarget's add/removeEventListener)
  function domException(message, name) { const e = new Error(message); e.name = name; e.code = name === 'AbortError' ? 20 : name === 'TimeoutError' ? 23 : 0; return e; }
  function abortError(reason) {
    if (reason && reason.name === 'TimeoutError') return reason;
    const e = domException('This operation was aborted', 'AbortError');
    if (reason !== undefined) e.cause = reason;
    return e;
  }
  class AbortSignal {
    constructor() { this.aborted = false; this.reason = undefined; this._l = []; this.onabort = null; }
    addEventListener(t, fn, o) { if (t === 'abort') this._l.push({ fn, once: !!(o && o.once) }); }
    removeEventListener(t, fn) { this._l = this._l.filter((x) => x.fn !== fn); }
    dispatchEvent(ev) { const ls = this._l; this._l = ls.filter((x) => !x.once); if (this.onabort) this.onabort(ev); for (const x of ls) x.fn.call(this, ev); return true; }
    throwIfAborted() { if (this.aborted) throw this.reason; }
    _abort(reason) { if (this.aborted) return; this.aborted = true; this.reason = reason === undefined ? domException('This operation was aborted', 'AbortError') : reason; this.dispatchEvent({ type: 'abort', target: this }); }
    static abort(reason) { const s = new AbortSignal(); s._abort(reason); return s; }
    static timeout(ms) { const s = new AbortSignal(); const t = setTimeout(() => s._abort(domException('The operation was aborted due to timeout', 'TimeoutError')), ms); if (t.unref) t.unref(); return s; }
    static any(signals) { const s = new AbortSignal(); for (const x of signals) { if (x.aborted) { s._abort(x.reason); break; } x.addEventListener('abort', () => s._abort(x.reason)); } return s; }
    get [Symbol.toStringTag]() { return 'AbortSignal'; }
  }
  class AbortController {
    constructor() { this.signal = new AbortSignal(); }
    abort(reason) { this.signal._abort(reason); }
  }

  // ---------- fetch
  class Headers {
    constructor(init) {
      this._m = new Map();
      if (init instanceof Headers) for (const [k, v] of init) this.append(k, v);
      else if (Array.isArray(init)) for (const [k, v] of init) this.append(k, v);
      else if (init && typeof init === 'object') for (const k of Object.keys(init)) this.append(k, init[k]);
    }
    append(k, v) { k = String(k).toLowerCase(); v = String(v).trim(); const l = this._m.get(k); if (l) l.push(v); else this._m.set(k, [v]); }
    set(k, v) { this._m.set(String(k).toLowerCase(), [String(v).trim()]); }
    get(k) { const l = this._m.get(String(k).toLowerCase()); return l ? l.join(', ') : null; }
    getSetCookie() { return [...(this._m.get('set-cookie') || [])]; }
    has(k) { return this._m.has(String(k).toLowerCase()); }
    delete(k) { this._m.delete(String(k).toLowerCase()); }
    forEach(fn, self) { for (const [k, v] of this) fn.call(self, v, k, this); }
    *entries() { for (const k of [...this._m.keys()].sort()) { if (k === 'set-cookie') for (const v of this._m.get(k)) yield [k, v]; else yield [k, this.get(k)]; } }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return 'Headers'; }
  }

  function bodyBytes(body) {
    if (body === undefined || body === null) return [null, null];
    if (typeof body === 'string') return [Buffer.from(body), 'text/plain;charset=UTF-8'];
    if (body instanceof URLSearchParams) return [Buffer.from(body.toString()), 'application/x-www-form-urlencoded;charset=UTF-8'];
    if (body instanceof ArrayBuffer) return [Buffer.from(new Uint8Array(body)), null];
    if (ArrayBuffer.isView(body)) return [Buffer.from(new Uint8Array(body.buffer, body.byteOffset, body.byteLength)), null];
    return [Buffer.from(String(body)), 'text/plain;charset=UTF-8'];
  }

  // Bytes as a one-chunk async iterable (a body given whole).
  async function* whole(bytes) { yield bytes; }

  // A response body as a stream of Uint8Arrays (getReader, async iteration).
  class ReadableStream {
    constructor(source, onRead) { this._src = source; this.locked = false; this._onRead = onRead || (() => {}); }
    getReader() {
      this.locked = true;
      const it = this._src[Symbol.asyncIterator]();
      return {
        read: () => { this._onRead(); return it.next().then((r) => (r.done ? { value: undefined, done: true } : { value: new Uint8Array(r.value), done: false })); },
        releaseLock: () => { this.locked = false; },
        cancel: () => { if (this._src.destroy) this._src.destroy(); return Promise.resolve(); },
        closed: new Promise(() => {}),
      };
    }
    cancel() { if (this._src.destroy) this._src.destroy(); return Promise.resolve(); }
    async *[Symbol.asyncIterator]() { this._onRead(); for await (const c of this._src) yield new Uint8Array(c); }
  }

  const Body = {
    async arrayBuffer() { const b = await this._bytes(); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); },
    async bytes() { return new Uint8Array(await this._bytes()); },
    async text() { return (await this._bytes()).toString('utf8'); },
    async json() { return JSON.parse(await this.text()); },
    _bytes() {
      if (this.bodyUsed) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
      this.bodyUsed = true;
      const src = this._source;
      if (src === null || src === undefined) return Promise.resolve(Buffer.alloc(0));
      if (src instanceof Uint8Array) return Promise.resolve(Buffer.from(src));
      if (src._failedWith) return Promise.reject(new TypeError('terminated', { cause: src._failedWith }));
      return new Promise((resolve, reject) => {
        const parts = [];
        src.on('data', (c) => parts.push(c));
        src.on('end', () => resolve(Buffer.concat(parts)));
        src.on('error', (e) => reject(new TypeError('terminated', { cause: e })));
      });
    },
  };

  class Request {
    constructor(input, init = {}) {
      const from = input instanceof Request ? input : null;
      this.url = from ? from.url : new URL(String(input)).href;
      this.method = String(init.method || (from && from.method) || 'GET').toUpperCase();
      this.headers = new Headers(init.headers || (from && from.headers));
      this.redirect = init.redirect || (from && from.redirect) || 'follow';
      this.signal = init.signal || (from && from.signal) || new AbortSignal();
      const [bytes, type] = bodyBytes(init.body !== undefined ? init.body : from ? from._source : null);
      if (bytes && (this.method === 'GET' || this.method === 'HEAD')) throw new TypeError('Request with GET/HEAD method cannot have body.');
      if (type && !this.headers.has('content-type')) this.headers.set('content-type', type);
      this._source = bytes; this.bodyUsed = false;
    }
    get body() { return this._source ? new ReadableStream(whole(this._source)) : null; }
    clone() { return new Request(this); }
  }
  Object.assign(Request.prototype, Body);

  class Response {
    constructor(body, init = {}) {
      this.status = init.status === undefined ? 200 : init.status;
      this.statusText = init.statusText || '';
      this.headers = init.headers instanceof Headers ? init.headers : new Headers(init.headers);
      this.type = 'default'; this.url = ''; this.redirected = false; this.bodyUsed = false;
      if (body instanceof Flow) this._source = body;
      else { const [bytes, type] = bodyBytes(body); this._source = bytes; if (type && !this.headers.has('content-type')) this.headers.set('content-type', type); }
    }
    get ok() { return this.status >= 200 && this.status < 300; }
    get body() {
      if (this._source === null) return null;
      if (!this._stream) this._stream = new ReadableStream(this._source instanceof Uint8Array ? whole(this._source) : this._source, () => { this.bodyUsed = true; });
      return this._stream;
    }
    clone() { if (!(this._source instanceof Uint8Array) && this._source) throw new TypeError('wasmjobs: clone() of a streamed response body is not supported'); return new Response(this._source, this); }
    static json(data, init = {}) { const h = new Headers(init.headers); h.set('content-type', 'application/json'); return new Response(JSON.stringify(data), { ...init, headers: h }); }
    static error() { const r = new Response(null, { status: 0 }); r.type = 'error'; return r; }
    static redirect(url, status = 302) { return new Response(null, { status, headers: { location: String(url) } }); }
  }
  Object.assign(Response.prototype, Body);

  function fetchFailed(cause) { return new TypeError('fetch failed', { cause }); }

  // One request, no redirects: resolves with the response once its head came.
  function exchange(url, method, headers, body, signal) {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return reject(fetchFailed(new Error(`not an http(s) URL: ${url}`)));
      const h = {};
      for (const [k, v] of headers) h[k] = v;
      if (!('accept' in h)) h.accept = '*/*';
      if (!('user-agent' in h)) h['user-agent'] = 'node';
      if (!('accept-language' in h)) h['accept-language'] = '*';
      const mod = u.protocol === 'https:' ? https : http;
      const req = mod.request(u, { method, headers: h, signal });
      req.on('response', (res) => resolve(res));
      req.on('error', (e) => reject(e && e.name === 'AbortError' || e && e.name === 'TimeoutError' ? e : fetchFailed(e)));
      req.end(body || undefined);
    });
  }

  async function fetch(input, init) {
    const request = new Request(input, init);
    const signal = request.signal;
    if (signal.aborted) throw abortError(signal.reason);
    let url = request.url, method = request.method, body = request._source;
    const headers = new Headers(request.headers);
    for (let hops = 0; ; hops++) {
      const res = await exchange(url, method, headers, body, signal);
      const status = res.statusCode;
      const location = res.headers.location;
      if ([301, 302, 303, 307, 308].includes(status) && location !== undefined && request.redirect !== 'manual') {
        res.resume();
        if (request.redirect === 'error') throw fetchFailed(new Error('unexpected redirect'));
        if (hops >= 20) throw fetchFailed(new Error('redirect count exceeded'));
        const next = new URL(location, url);
        if (new URL(url).origin !== next.origin) { headers.delete('authorization'); headers.delete('cookie'); }
        if (status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST') {
          method = 'GET'; body = null; headers.delete('content-type'); headers.delete('content-length');
        }
        url = next.href;
        continue;
      }
      const h = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
      const response = new Response(null, { status, statusText: res.statusMessage, headers: h });
      response._source = res; response.url = url; response.redirected = hops > 0; response.type = 'basic';
      return response;
    }
  }

  // The event loop's call: waits up to `wait` ms (-1: until something
  // happens) and hands each socket its events.
  function poll(wait) {
    const ev = native.poll(wait);
    for (let i = 0; i + 1 < ev.length; i += 2) {
      const s = sockets.get(ev[i]);
      if (s) s._events_(ev[i + 1]);
    }
    return -1;
  }

  return { net, tls, http, https, dns, fetch, Headers, Request, Response, URL, URLSearchParams, AbortController, AbortSignal, poll };
};
