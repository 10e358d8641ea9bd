/*
 * wasmjobs JS guest: the entry point of the QuickJS-NG interpreter that runs
 * `.js` jobs inside wasmtime (WASI preview 1 command module).
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
 * The built-in modules are reachable as 'qjs:std'/'qjs:os' and as the plain
 * 'std'/'os' names older QuickJS scripts use, and as the globals `std` and
 * `os` in non-module scripts. Further compatibility layers (Node's
 * `process`, `require`, timers) hook in at `install_globals` below.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    js_init_module_std(ctx, "std");
    js_init_module_os(ctx, "os");
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

/* Globals every script sees before it starts. */
static int install_globals(JSContext *ctx)
{
    static const char prelude[] =
        "import * as std from 'qjs:std';\n"
        "import * as os from 'qjs:os';\n"
        "globalThis.std = std;\n"
        "globalThis.os = os;\n";
    return eval_module_source(ctx, prelude, strlen(prelude), "<wasmjobs-prelude>");
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int run_script(JSContext *ctx, const char *filename)
{
    size_t len;
    uint8_t *buf = js_load_file(ctx, &len, filename);
    if (!buf) {
        fprintf(stderr, "wasmjobs: cannot read script '%s': %s\n", filename, strerror(errno));
        return -1;
    }
    int module = has_suffix(filename, ".mjs") || JS_DetectModule((const char *)buf, len);
    int ret;
    if (module) {
        ret = eval_module_source(ctx, (const char *)buf, len, filename);
    } else {
        JSValue val = JS_Eval(ctx, (const char *)buf, len, filename, JS_EVAL_TYPE_GLOBAL);
        ret = JS_IsException(val) ? -1 : 0;
        JS_FreeValue(ctx, val);
    }
    js_free(ctx, buf);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc < 1 || !argv[0] || !*argv[0]) {
        fprintf(stderr, "wasmjobs: no script to run\n");
        return 2;
    }
    /* Line-buffered output: the host captures and timestamps line by line. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    const char *workdir = getenv("WASMJOBS_GUEST_CWD");
    if (workdir && *workdir && chdir(workdir) != 0) {
        fprintf(stderr, "wasmjobs: cannot enter working directory '%s': %s\n", workdir, strerror(errno));
        return 2;
    }
    unsetenv("WASMJOBS_GUEST_CWD");

    JSRuntime *rt = JS_NewRuntime();
    if (!rt) {
        fprintf(stderr, "wasmjobs: cannot allocate the JS runtime\n");
        return 2;
    }
    js_std_set_worker_new_context_func(new_context);
    js_std_init_handlers(rt);
    JSContext *ctx = new_context(rt);
    if (!ctx) {
        fprintf(stderr, "wasmjobs: cannot allocate the JS context\n");
        return 2;
    }
    JS_SetModuleLoaderFunc2(rt, NULL, js_module_loader, js_module_check_attributes, NULL);
    JS_SetHostPromiseRejectionTracker(rt, js_std_promise_rejection_tracker, NULL);
    js_std_add_helpers(ctx, argc, argv);

    int status = 0;
    if (install_globals(ctx) < 0 || run_script(ctx, argv[0]) < 0 || js_std_loop(ctx) != 0) {
        js_std_dump_error(ctx);
        status = 1;
    }
    fflush(stdout);
    fflush(stderr);
    /* Exit without tearing the heap down: the instance is discarded anyway. */
    _Exit(status);
}
