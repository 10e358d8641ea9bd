/*
 * js2bc: compiles a JavaScript file (a global script) to QuickJS bytecode,
 * at build time, natively, from the same QuickJS sources as the guest, so
 * the guest reads the Node prelude's bytecode at start instead of parsing
 * its source on every run.
 *
 *   js2bc INPUT.js NAME OUTPUT.bc
 */
#include <stdio.h>
#include <stdlib.h>

#include "quickjs.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: js2bc INPUT.js NAME OUTPUT.bc\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *src = malloc(n + 1);
    if (!src || fread(src, 1, n, f) != (size_t)n) {
        fprintf(stderr, "js2bc: cannot read %s\n", argv[1]);
        return 1;
    }
    src[n] = 0;
    fclose(f);
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    JSValue fn = JS_Eval(ctx, src, n, argv[2], JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_COMPILE_ONLY);
    if (JS_IsException(fn)) {
        JSValue e = JS_GetException(ctx);
        const char *msg = JS_ToCString(ctx, e);
        fprintf(stderr, "js2bc: %s: %s\n", argv[1], msg ? msg : "syntax error");
        return 1;
    }
    size_t len;
    uint8_t *bc = JS_WriteObject(ctx, &len, fn, JS_WRITE_OBJ_BYTECODE);
    if (!bc) {
        fprintf(stderr, "js2bc: cannot serialise %s\n", argv[1]);
        return 1;
    }
    FILE *out = fopen(argv[3], "wb");
    if (!out || fwrite(bc, 1, len, out) != len || fclose(out) != 0) {
        perror(argv[3]);
        return 1;
    }
    return 0;
}
