/*
 * wasmjobs JS guest: the entry points of the QuickJS-NG interpreter that
 * runs `.js` jobs inside wasmtime (a WASI preview 1 reactor module).
 *
 *   wizer-initialize  run once, when wasmjobs pre-initialises the guest:
 *                     makes the runtime and context and evaluates Node's
 *                     prelude. The resulting heap becomes the guest's
 *                     memory image, so every run starts from it.
 *   wasmjobs-run      run once per job run, on a fresh instance of that
 *                     image: reads this run's arguments and environment
 *                     from WASI, seeds Math.random, enters the script's
 *                     folder, lets the prelude read the run's environment,
 *                     arguments and start time, and runs the script.
 *
 * Protocol with the host (src/runtime/wasm):
 *   argv    = [script, arg1, arg2, ...]  (WebJobs: script file name, then
 *             the run's arguments); `scriptArgs` in JS is exactly argv.
 *   env     = the run's environment, plus WASMJOBS_GUEST_CWD: the folder
 *             holding the script inside the working copy, which becomes the
 *             current directory (WebJobs runs a script in its own folder);
 *             the variable is removed before the script starts.
 *   exit    = the script's status: `std.exit(n)`, 1 for an uncaught
 *             exception or unhandled rejection, 0 otherwise.
 *
 * QuickJS's modules are reachable as 'qjs:std'/'qjs:os', as the plain 'std'
 * older QuickJS scripts use (plain 'os' is Node's os merged over QuickJS's),
 * and as the globals `std` and `os`. Node's surface (node/prelude.js, embedded here) is installed before
 * the script: `process`, `console`, `require` and core modules, timers. A
 * script that is not an ES module runs as a CommonJS module, as in Node;
 * ES modules may import the core modules ('fs', 'node:path', ...). The
 * event loop runs until no work is left; uncaught errors and unhandled
 * rejections are reported Node's way and end the run with status 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wasi/api.h>

#include "quickjs-libc.h"
#include "quickjs.h"

static JSContext *new_context(JSRuntime *rt)
{
    JSContext *ctx = JS_NewContext(rt);
    if (!ctx)
        return NULL;
    js_init_module_std(ctx, "qjs:std");
    js_init_module_os(ctx, "qjs:os");
    js_init_module_bjson(ctx, "qjs:bjson");
    /* Plain 'os' comes from the module loader: Node's os over QuickJS's. */
    js_init_module_std(ctx, "std");
    return ctx;
}

static int eval_module_source(JSContext *ctx, const char *src, size_t len, const char *name)
{
    JSValue val = JS_Eval(ctx, src, len, name, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
    if (!JS_IsException(val)) {
        if (js_module_set_import_meta(ctx, val, true, true) < 0) {
            JS_FreeValue(ctx, val);
            return -1;
        }
        val = JS_EvalFunction(ctx, val);
    }
    val = js_std_await(ctx, val);
    if (JS_IsException(val))
        return -1;
    JS_FreeValue(ctx, val);
    return 0;
}

/* node/prelude.js, evaluated once, in wizer-initialize: runs start from
 * the image that holds its result. */
static const char node_prelude[] = {
#embed "node/prelude.js"
    , 0 /* QuickJS parses NUL-terminated text */
};

/* node/net.js: Node's network modules and fetch over the host's sockets,
 * made by the prelude (evaluated just before it, likewise once). */
static const char node_net[] = {
#embed "node/net.js"
    , 0
};

/* Compiles `src` as the body of a CommonJS module named `name`: Node's
 * wrapper function (exports, require, module, __filename, __dirname), a
 * shebang line kept as a comment; returns the function, not yet called.
 * The head shares the file's first line, so line numbers are the file's. */
static JSValue compile_commonjs(JSContext *ctx, const char *src, size_t len, const char *name)
{
    static const char head[] = "(function (exports, require, module, __filename, __dirname) {";
    static const char tail[] = "\n})";
    size_t n = sizeof(head) - 1 + len + sizeof(tail) - 1;
    char *text = malloc(n + 1);
    if (!text)
        return JS_ThrowOutOfMemory(ctx);
    memcpy(text, head, sizeof(head) - 1);
    memcpy(text + sizeof(head) - 1, src, len);
    if (len >= 2 && src[0] == '#' && src[1] == '!')
        memcpy(text + sizeof(head) - 1, "//", 2);
    memcpy(text + sizeof(head) - 1 + len, tail, sizeof(tail));
    JSValue fn = JS_Eval(ctx, text, n, name, JS_EVAL_TYPE_GLOBAL);
    free(text);
    return fn;
}

/* __wasmjobs.compile(source, filename): a CommonJS module's wrapper
 * function (compile_commonjs), for the prelude's require. */
static JSValue js_compile(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    size_t len;
    const char *src = JS_ToCStringLen(ctx, &len, argv[0]);
    if (!src)
        return JS_EXCEPTION;
    const char *name = JS_ToCString(ctx, argv[1]);
    if (!name) {
        JS_FreeCString(ctx, src);
        return JS_EXCEPTION;
    }
    JSValue fn = compile_commonjs(ctx, src, len, name);
    JS_FreeCString(ctx, src);
    JS_FreeCString(ctx, name);
    return fn;
}

/* __wasmjobs.random(n): n bytes from WASI's random source (getentropy),
 * as an ArrayBuffer; crypto.randomBytes and randomUUID use nothing else. */
static JSValue js_random(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    uint32_t n;
    if (JS_ToUint32(ctx, &n, argv[0]) < 0)
        return JS_EXCEPTION;
    if (n > (1u << 24))
        return JS_ThrowRangeError(ctx, "at most 16 MiB of random bytes at once");
    uint8_t *buf = js_malloc(ctx, n ? n : 1);
    if (!buf)
        return JS_EXCEPTION;
    for (uint32_t off = 0; off < n; off += 256) {
        uint32_t k = n - off < 256 ? n - off : 256;
        if (getentropy(buf + off, k) != 0) {
            js_free(ctx, buf);
            return JS_ThrowInternalError(ctx, "no random source: %s", strerror(errno));
        }
    }
    JSValue ab = JS_NewArrayBufferCopy(ctx, buf, n);
    js_free(ctx, buf);
    return ab;
}

/* ---------- sockets: the host's (module wasmjobs_net, see
 * src/runtime/wasm/sockets.rs). The host connects, speaks TLS and holds
 * every connection to the run's network policy; these calls never block
 * but poll, which the event loop calls when it has nothing else to do. */
#define NET_IMPORT(name) __attribute__((import_module("wasmjobs_net"), import_name(name)))
NET_IMPORT("connect") int32_t net_connect(const char *host, int32_t len, int32_t port, int32_t mode);
NET_IMPORT("send") int32_t net_send(int32_t h, const uint8_t *buf, int32_t len);
NET_IMPORT("recv") int32_t net_recv(int32_t h, uint8_t *buf, int32_t cap);
NET_IMPORT("end") int32_t net_end(int32_t h);
NET_IMPORT("close") int32_t net_close(int32_t h);
NET_IMPORT("poll") int32_t net_poll(int32_t timeout_ms, int32_t *out, int32_t cap);
NET_IMPORT("error") int32_t net_error(int32_t h, char *buf, int32_t cap);

/* Sockets that keep the event loop alive (the prelude counts them). */
static int net_live;

/* net.connect(host, port, mode) -> handle */
static JSValue js_net_connect(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    (void)argc;
    size_t len;
    const char *host = JS_ToCStringLen(ctx, &len, argv[0]);
    if (!host)
        return JS_EXCEPTION;
    int32_t port = 0, mode = 0;
    if (JS_ToInt32(ctx, &port, argv[1]) < 0 || JS_ToInt32(ctx, &mode, argv[2]) < 0) {
        JS_FreeCString(ctx, host);
        return JS_EXCEPTION;
    }
    int32_t h = net_connect(host, (int32_t)len, port, mode);
    JS_FreeCString(ctx, host);
    return JS_NewInt32(ctx, h);
}

/* net.send(h, Uint8Array) -> bytes the host took, or -1 */
static JSValue js_net_send(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    (void)argc;
    int32_t h;
    if (JS_ToInt32(ctx, &h, argv[0]) < 0)
        return JS_EXCEPTION;
    size_t off, len, per;
    JSValue ab = JS_GetTypedArrayBuffer(ctx, argv[1], &off, &len, &per);
    if (JS_IsException(ab))
        return JS_EXCEPTION;
    size_t size;
    uint8_t *buf = JS_GetArrayBuffer(ctx, &size, ab);
    JS_FreeValue(ctx, ab);
    if (!buf)
        return JS_EXCEPTION;
    return JS_NewInt32(ctx, net_send(h, buf + off, (int32_t)len));
}

/* net.recv(h) -> ArrayBuffer, or 0 (the peer's end), -1 (nothing yet), -2 */
static JSValue js_net_recv(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    (void)argc;
    static uint8_t buf[64 << 10];
    int32_t h;
    if (JS_ToInt32(ctx, &h, argv[0]) < 0)
        return JS_EXCEPTION;
    int32_t n = net_recv(h, buf, (int32_t)sizeof(buf));
    if (n <= 0)
        return JS_NewInt32(ctx, n);
    return JS_NewArrayBufferCopy(ctx, buf, (size_t)n);
}

/* net.end(h), net.close(h) */
static JSValue js_net_end(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int magic)
{
    (void)this_val;
    (void)argc;
    int32_t h;
    if (JS_ToInt32(ctx, &h, argv[0]) < 0)
        return JS_EXCEPTION;
    return JS_NewInt32(ctx, magic ? net_close(h) : net_end(h));
}

/* net.error(h) -> why it failed */
static JSValue js_net_error(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    (void)argc;
    char buf[1024];
    int32_t h;
    if (JS_ToInt32(ctx, &h, argv[0]) < 0)
        return JS_EXCEPTION;
    int32_t n = net_error(h, buf, (int32_t)sizeof(buf));
    return JS_NewStringLen(ctx, buf, n > 0 ? (size_t)n : 0);
}

/* net.poll(timeout_ms) -> [handle, events, handle, events, ...] */
static JSValue js_net_poll(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    (void)argc;
    static int32_t ev[2 * 256];
    int32_t timeout;
    if (JS_ToInt32(ctx, &timeout, argv[0]) < 0)
        return JS_EXCEPTION;
    int32_t n = net_poll(timeout, ev, (int32_t)sizeof(ev));
    JSValue out = JS_NewArray(ctx);
    for (int32_t i = 0; i < 2 * n; i++)
        JS_SetPropertyUint32(ctx, out, (uint32_t)i, JS_NewInt32(ctx, ev[i]));
    return out;
}

/* net.setLive(n): sockets that keep the loop alive */
static JSValue js_net_set_live(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    (void)argc;
    if (JS_ToInt32(ctx, &net_live, argv[0]) < 0)
        return JS_EXCEPTION;
    return JS_UNDEFINED;
}

static const JSCFunctionListEntry net_funcs[] = {
    JS_CFUNC_DEF("connect", 3, js_net_connect),
    JS_CFUNC_DEF("send", 2, js_net_send),
    JS_CFUNC_DEF("recv", 1, js_net_recv),
    JS_CFUNC_MAGIC_DEF("end", 1, js_net_end, 0),
    JS_CFUNC_MAGIC_DEF("close", 1, js_net_end, 1),
    JS_CFUNC_DEF("error", 1, js_net_error),
    JS_CFUNC_DEF("poll", 1, js_net_poll),
    JS_CFUNC_DEF("setLive", 1, js_net_set_live),
};

/* Globals every script sees before it starts: std, os, and Node's. */
static int install_globals(JSContext *ctx)
{
    static const char modules[] =
        "import * as std from 'qjs:std';\n"
        "import * as os from 'qjs:os';\n"
        "globalThis.std = std;\n"
        "globalThis.os = os;\n";
    if (eval_module_source(ctx, modules, strlen(modules), "<wasmjobs-prelude>") < 0)
        return -1;
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue native = JS_NewObject(ctx);
    JS_SetPropertyStr(ctx, native, "compile", JS_NewCFunction(ctx, js_compile, "compile", 2));
    JS_SetPropertyStr(ctx, native, "random", JS_NewCFunction(ctx, js_random, "random", 1));
    JSValue net = JS_NewObject(ctx);
    JS_SetPropertyFunctionList(ctx, net, net_funcs, sizeof(net_funcs) / sizeof(net_funcs[0]));
    JS_SetPropertyStr(ctx, native, "net", net);
    JS_SetPropertyStr(ctx, global, "__wasmjobs", native);
    JS_FreeValue(ctx, global);
    /* node/net.js only defines the factory the prelude makes its network
     * modules with. */
    JSValue v = JS_Eval(ctx, node_net, sizeof(node_net) - 1, "<wasmjobs-node-net>", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(v))
        return -1;
    JS_FreeValue(ctx, v);
    v = JS_Eval(ctx, node_prelude, sizeof(node_prelude) - 1, "<wasmjobs-node>", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(v))
        return -1;
    JS_FreeValue(ctx, v);
    return 0;
}

/* Calls the prelude's global function `name`; returns its result. */
static JSValue call_global(JSContext *ctx, const char *name, int argc, JSValueConst *argv)
{
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue fn = JS_GetPropertyStr(ctx, global, name);
    JSValue r = JS_Call(ctx, fn, global, argc, argv);
    JS_FreeValue(ctx, fn);
    JS_FreeValue(ctx, global);
    return r;
}

/* Calls the prelude's hook `name` with `argc` arguments; returns its
 * integer result, or `fallback` when it throws. */
static int call_hook(JSContext *ctx, const char *name, int argc, JSValueConst *argv, int fallback)
{
    JSValue r = call_global(ctx, name, argc, argv);
    int out = fallback;
    if (JS_IsException(r))
        js_std_dump_error(ctx);
    else
        JS_ToInt32(ctx, &out, r);
    JS_FreeValue(ctx, r);
    return out;
}

/* An uncaught exception (pending in ctx): reported by the prelude, Node's
 * way; returns the exit status, or -1 when an 'uncaughtException'
 * listener took it and the run goes on. */
static int uncaught(JSContext *ctx)
{
    JSValue e = JS_GetException(ctx);
    int code = call_hook(ctx, "__wasmjobs_fatal", 1, (JSValueConst *)&e, 1);
    JS_FreeValue(ctx, e);
    return code;
}

/* Promise rejections, handled or not, go to the prelude, which reports
 * those still unhandled once the microtasks have run (as Node does). */
static void rejection_tracker(JSContext *ctx, JSValueConst promise, JSValueConst reason,
                              bool is_handled, void *opaque)
{
    (void)opaque;
    JSValueConst args[3] = { promise, reason, JS_NewBool(ctx, is_handled) };
    call_hook(ctx, "__wasmjobs_rejection", 3, args, 0);
}

/* ES module loader: Node's core modules by name ('fs', 'node:fs'), from
 * the prelude; anything else as QuickJS loads it. */
static JSModuleDef *module_loader(JSContext *ctx, const char *name, void *opaque,
                                  JSValueConst attributes)
{
    JSValue arg = JS_NewString(ctx, name);
    JSValue src = call_global(ctx, "__wasmjobs_esmSource", 1, (JSValueConst *)&arg);
    JS_FreeValue(ctx, arg);
    if (JS_IsException(src))
        return NULL;
    if (JS_IsString(src)) {
        size_t len;
        const char *text = JS_ToCStringLen(ctx, &len, src);
        JS_FreeValue(ctx, src);
        if (!text)
            return NULL;
        JSValue m = JS_Eval(ctx, text, len, name, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
        JS_FreeCString(ctx, text);
        if (JS_IsException(m))
            return NULL;
        JSModuleDef *def = JS_VALUE_GET_PTR(m);
        JS_FreeValue(ctx, m);
        return def;
    }
    JS_FreeValue(ctx, src);
    return js_module_loader(ctx, name, opaque, attributes);
}

/* The main ES module's evaluation (a promise: top-level await), settled
 * by the event loop like any other work. */
static JSValue main_module = JS_UNDEFINED;

/* Starts the main ES module (compiled, not yet evaluated); 0, or -1 with
 * the exception pending. */
static int start_module(JSContext *ctx, JSValue module)
{
    if (js_module_set_import_meta(ctx, module, false, true) < 0) {
        JS_FreeValue(ctx, module);
        return -1;
    }
    JSValue val = JS_EvalFunction(ctx, module);
    if (JS_IsException(val))
        return -1;
    main_module = val;
    return 0;
}

/* Runs the main CommonJS module's wrapper `fn` (the prelude sets up
 * `module`, `require` and the rest); 0, or -1 with the exception pending. */
static int run_commonjs(JSContext *ctx, const char *name, JSValue fn)
{
    JSValue args[2] = { JS_NewString(ctx, name), fn };
    JSValue val = call_global(ctx, "__wasmjobs_runMain", 2, (JSValueConst *)args);
    int ret = JS_IsException(val) ? -1 : 0;
    JS_FreeValue(ctx, val);
    JS_FreeValue(ctx, args[0]);
    JS_FreeValue(ctx, args[1]);
    return ret;
}

/* Whether `e` is a SyntaxError. */
static bool is_syntax_error(JSContext *ctx, JSValueConst e)
{
    JSValue name = JS_GetPropertyStr(ctx, e, "name");
    const char *s = JS_ToCString(ctx, name);
    bool yes = s && strcmp(s, "SyntaxError") == 0;
    JS_FreeCString(ctx, s);
    JS_FreeValue(ctx, name);
    return yes;
}

static int run_script(JSContext *ctx, const char *filename)
{
    size_t len;
    uint8_t *buf = js_load_file(ctx, &len, filename);
    if (!buf) {
        fprintf(stderr, "wasmjobs: cannot read script '%s': %s\n", filename, strerror(errno));
        return -2;
    }
    /* An absolute name: stack traces and import.meta.url name /job/...,
     * and relative imports resolve from it. */
    char cwd[1024], name[2048];
    if (filename[0] != '/' && getcwd(cwd, sizeof(cwd)))
        snprintf(name, sizeof(name), "%s/%s", strcmp(cwd, "/") ? cwd : "", filename);
    else
        snprintf(name, sizeof(name), "%s", filename);
    const char *src = (const char *)buf;
    /* Node's rule: CommonJS unless the file only parses as an ES module
     * (entries are `.js`); each is compiled once, and what compiles is
     * run. Compiling a module also loads what it imports, so a module
     * that parses but cannot load an import fails with that error. */
    int ret;
    JSValue fn = compile_commonjs(ctx, src, len, name);
    if (!JS_IsException(fn)) {
        ret = run_commonjs(ctx, name, fn);
    } else {
        JSValue cjs_error = JS_GetException(ctx);
        JSValue module = JS_Eval(ctx, src, len, name, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
        if (!JS_IsException(module)) {
            JS_FreeValue(ctx, cjs_error);
            ret = start_module(ctx, module);
        } else {
            JSValue module_error = JS_GetException(ctx);
            /* Neither parses: the script's own (CommonJS) syntax error. */
            bool syntax = JS_IsError(module_error) && is_syntax_error(ctx, module_error);
            JS_Throw(ctx, syntax ? cjs_error : module_error);
            JS_FreeValue(ctx, syntax ? module_error : cjs_error);
            ret = -1;
        }
    }
    js_free(ctx, buf);
    return ret;
}

/* The one runtime and context, made by wizer-initialize and kept in the
 * guest's memory image. */
static JSRuntime *rt;
static JSContext *ctx;

/* Math.random: xorshift64* (as QuickJS's own), seeded from WASI's random
 * source at the start of every run, so that runs from one memory image do
 * not share a sequence. */
static uint64_t random_state = 1;

static JSValue js_math_random(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    (void)this_val;
    (void)argc;
    (void)argv;
    uint64_t x = random_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    random_state = x;
    union { double d; uint64_t u; } u;
    u.u = ((x * 2685821657736338717ULL) >> 12) | 0x3ff0000000000000ULL;
    return JS_NewFloat64(ctx, u.d - 1.0);
}

/* Run once, when the host pre-initialises the guest: the runtime, the
 * context, QuickJS's modules and Node's prelude. Nothing of a run (its
 * arguments, environment, directory, clock or randomness) is read here:
 * the prelude reads those in __wasmjobs_start, called by wasmjobs-run. */
__attribute__((export_name("wizer-initialize")))
void wasmjobs_initialize(void)
{
    /* Line-buffered output: the host captures and timestamps line by line. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    rt = JS_NewRuntime();
    if (!rt) {
        fprintf(stderr, "wasmjobs: cannot allocate the JS runtime\n");
        _Exit(2);
    }
    js_std_set_worker_new_context_func(new_context);
    js_std_init_handlers(rt);
    ctx = new_context(rt);
    if (!ctx) {
        fprintf(stderr, "wasmjobs: cannot allocate the JS context\n");
        _Exit(2);
    }
    JS_SetModuleLoaderFunc2(rt, NULL, module_loader, js_module_check_attributes, NULL);
    js_std_add_helpers(ctx, -1, NULL);
    if (install_globals(ctx) < 0) {
        js_std_dump_error(ctx);
        _Exit(2);
    }
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue math = JS_GetPropertyStr(ctx, global, "Math");
    JS_DefinePropertyValueStr(ctx, math, "random",
                              JS_NewCFunction(ctx, js_math_random, "random", 0),
                              JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE);
    JS_FreeValue(ctx, math);
    JS_FreeValue(ctx, global);
    JS_SetHostPromiseRejectionTracker(rt, rejection_tracker, NULL);
    JS_RunGC(rt);
}

void __wasilibc_deinitialize_environ(void);
void __wasilibc_initialize_environ(void);

/* This run's arguments, from WASI (not the image's). */
static char **run_args(int *argc)
{
    size_t n = 0, size = 0;
    if (__wasi_args_sizes_get(&n, &size) != 0)
        return NULL;
    char **argv = calloc(n + 1, sizeof(char *));
    char *buf = malloc(size ? size : 1);
    if (!argv || !buf || __wasi_args_get((uint8_t **)argv, (uint8_t *)buf) != 0)
        return NULL;
    *argc = (int)n;
    return argv;
}

/* Run once per job run, on a fresh instance of the image. */
__attribute__((export_name("wasmjobs-run")))
void wasmjobs_run(void)
{
    /* This run's environment, not the image's. */
    __wasilibc_deinitialize_environ();
    __wasilibc_initialize_environ();
    int argc = 0;
    char **argv = run_args(&argc);
    if (!argv || argc < 1 || !argv[0] || !*argv[0]) {
        fprintf(stderr, "wasmjobs: no script to run\n");
        _Exit(2);
    }
    if (getentropy(&random_state, sizeof(random_state)) != 0 || random_state == 0)
        random_state = 0x9e3779b97f4a7c15ULL;

    const char *workdir = getenv("WASMJOBS_GUEST_CWD");
    if (workdir && *workdir && chdir(workdir) != 0) {
        fprintf(stderr, "wasmjobs: cannot enter working directory '%s': %s\n", workdir, strerror(errno));
        _Exit(2);
    }
    unsetenv("WASMJOBS_GUEST_CWD");
    JS_UpdateStackTop(rt);
    /* performance.timeOrigin and now() count from this run's start (the
     * context was made in the image, on another clock). */
    JS_AddPerformance(ctx);

    /* scriptArgs, then Node's process.env, argv and clocks. */
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue args = JS_NewArray(ctx);
    for (int i = 0; i < argc; i++)
        JS_SetPropertyUint32(ctx, args, i, JS_NewString(ctx, argv[i]));
    JS_SetPropertyStr(ctx, global, "scriptArgs", args);
    JS_FreeValue(ctx, global);
    JSValue started = call_global(ctx, "__wasmjobs_start", 0, NULL);
    if (JS_IsException(started)) {
        js_std_dump_error(ctx);
        _Exit(2);
    }
    JS_FreeValue(ctx, started);

    int status = -1;
    int ran = run_script(ctx, argv[0]);
    if (ran == -2)
        status = 2;
    else if (ran < 0)
        status = uncaught(ctx);
    /* The event loop: microtasks, then due timers, until nothing is left
     * (a timer due after the run's deadline does not matter: the host
     * ends the run at its deadline). */
    while (status < 0) {
        status = call_hook(ctx, "__wasmjobs_drainTicks", 0, NULL, 1);
        if (status >= 0)
            break;
        int r = js_std_loop_once(ctx);
        if (r == -2) {
            status = uncaught(ctx);
            continue;
        }
        /* Unhandled rejections are judged once the microtasks are done. */
        if (!JS_IsJobPending(rt)) {
            status = call_hook(ctx, "__wasmjobs_tick", 0, NULL, 1);
            if (status >= 0)
                break;
        }
        /* Open sockets keep the loop alive: it waits for them (or the next
         * timer), and the prelude hands their events to their sockets. */
        if (net_live > 0) {
            JSValue wait = JS_NewInt32(ctx, r);
            JSValue v = call_global(ctx, "__wasmjobs_netPoll", 1, (JSValueConst *)&wait);
            if (JS_IsException(v))
                status = uncaught(ctx);
            JS_FreeValue(ctx, v);
            continue;
        }
        if (r == -1)
            break;
        if (r > 0)
            usleep((useconds_t)r * 1000);
    }
    /* A main module whose top-level await never settled: Node's exit 13. */
    if (status < 0 && JS_IsObject(main_module) &&
        JS_PromiseState(ctx, main_module) == JS_PROMISE_PENDING) {
        fprintf(stderr, "Warning: Detected unsettled top-level await\n");
        JSValue code = JS_NewInt32(ctx, 13);
        status = call_hook(ctx, "__wasmjobs_exitWith", 1, (JSValueConst *)&code, 13);
    }
    if (status < 0)
        status = call_hook(ctx, "__wasmjobs_beforeExit", 0, NULL, 1);
    fflush(stdout);
    fflush(stderr);
    /* Exit without tearing the heap down: the instance is discarded anyway. */
    _Exit(status);
}
