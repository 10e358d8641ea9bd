/*
 * wasmjobs Python guest: the entry points of CPython 3.13 built for
 * wasm32-wasip1 as a reactor module (no _start).
 *
 *   wizer-initialize  run once, when wasmjobs pre-initialises the guest:
 *                     starts the interpreter (stdlib preopened read-only at
 *                     /usr/local/lib) and imports the modules most jobs use.
 *                     The resulting heap becomes the guest's memory image,
 *                     so every run starts from an initialised interpreter.
 *   wasmjobs-run      run once per job run, on a fresh instance of that
 *                     image: re-reads this run's environment and arguments
 *                     from WASI (nothing of the snapshot's is kept), enters
 *                     the script's folder (WASMJOBS_GUEST_CWD, then removed),
 *                     reseeds `random`, runs argv[0] as __main__ (as
 *                     `python run.py` does), runs the atexit handlers, clears
 *                     __main__ as interpreter shutdown does, and exits with
 *                     Python's status (sys.exit code, 1 on an uncaught
 *                     exception with its traceback on stderr). A preloaded
 *                     module the job shadows with its own file is dropped
 *                     first, as `python run.py` would never have loaded it.
 *
 * The interpreter is never finalised: the instance is discarded after the
 * run. The per-process hash seed is fixed at snapshot time (documented).
 */
#define PY_SSIZE_T_CLEAN
#include "Python.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wasi/api.h>

extern char **environ;
void __wasilibc_deinitialize_environ(void);
void __wasilibc_initialize_environ(void);

static PyObject *bootstrap;

static const char BOOTSTRAP[] =
    "import os, sys\n"
    "\n"
    "PRELOADED = ()\n"
    "\n"
    "def warm():\n"
    "    global PRELOADED\n"
    "    before = set(sys.modules)\n"
    "    import runpy, random, json, re, datetime, collections, itertools, functools\n"
    "    import pathlib, typing, dataclasses, enum, hashlib, base64, csv, decimal\n"
    "    import math, time, traceback, io, struct, string, textwrap, argparse\n"
    "    import logging, urllib.parse, tempfile, shutil, glob, copy, heapq, bisect\n"
    "    import statistics, zlib, sqlite3, unicodedata, atexit, gc\n"
    "    PRELOADED = tuple(sorted(set(sys.modules) - before))\n"
    "    # Everything alive now belongs to the image: keep it out of every\n"
    "    # collection a run makes (as gc.freeze() before fork).\n"
    "    import gc\n"
    "    gc.collect()\n"
    "    gc.freeze()\n"
    "\n"
    "def unshadow(dirs):\n"
    "    # `python run.py` lets a job's own module shadow a stdlib one it did not\n"
    "    # import at start-up; forget the preloaded modules a job shadows.\n"
    "    tops = {m.split('.')[0] for m in PRELOADED}\n"
    "    names = set()\n"
    "    for d in dirs:\n"
    "        try:\n"
    "            names.update(n[:-3] if n.endswith('.py') else n for n in os.listdir(d))\n"
    "        except OSError:\n"
    "            pass\n"
    "    shadowed = tops & names\n"
    "    for m in PRELOADED:\n"
    "        if m.split('.')[0] in shadowed:\n"
    "            sys.modules.pop(m, None)\n"
    "\n"
    "def main_module(path):\n"
    "    # What `python path` makes its __main__ module.\n"
    "    import builtins, importlib.machinery, types\n"
    "    main = types.ModuleType('__main__')\n"
    "    main.__file__ = path\n"
    "    main.__cached__ = None\n"
    "    main.__loader__ = importlib.machinery.SourceFileLoader('__main__', path)\n"
    "    main.__builtins__ = builtins\n"
    "    sys.modules['__main__'] = main\n"
    "    return main\n"
    "\n"
    "def clear_module_dict(d):\n"
    "    # As _PyModule_ClearDict: names starting with one underscore first.\n"
    "    for k in list(d):\n"
    "        if k.startswith('_') and not k.startswith('__'):\n"
    "            d[k] = None\n"
    "    for k in list(d):\n"
    "        if k != '__builtins__':\n"
    "            d[k] = None\n"
    "\n"
    "def exit_code(f):\n"
    "    try:\n"
    "        f()\n"
    "        return 0\n"
    "    except SystemExit as e:\n"
    "        if e.code is None:\n"
    "            return 0\n"
    "        if isinstance(e.code, int):\n"
    "            return e.code\n"
    "        print(e.code, file=sys.stderr)\n"
    "        return 1\n"
    "    except BaseException:\n"
    "        sys.excepthook(*sys.exc_info())\n"
    "        return 1\n"
    "\n"
    "def run(argv, env, cwd):\n"
    "    import posix, random\n"
    "    # This run's environment, in place: os.environ and os.environb share _data.\n"
    "    os.environ._data.clear()\n"
    "    posix.environ.clear()\n"
    "    for item in env:\n"
    "        k, sep, v = item.partition(b'=')\n"
    "        if sep:\n"
    "            os.environ._data[k] = v\n"
    "            posix.environ[k] = v\n"
    "    sys.argv = list(argv)\n"
    "    sys.orig_argv = ['python3'] + sys.argv\n"
    "    random.seed()\n"
    "    sys.stdout.reconfigure(line_buffering=True)\n"
    "    sys.stderr.reconfigure(line_buffering=True)\n"
    "    # Like `python run.py`: the script's folder first on sys.path, then the\n"
    "    # vendored-package folders a job may ship next to it.\n"
    "    extra = [cwd] + [os.path.join(cwd, d) for d in ('lib', 'site-packages') if os.path.isdir(os.path.join(cwd, d))]\n"
    "    sys.path[:0] = extra\n"
    "    unshadow(extra)\n"
    "    import logging, time\n"
    "    logging._startTime = time.time_ns()\n"
    "    main = main_module(argv[0])\n"
    "    code = exit_code(lambda: exec(compile(open(argv[0], 'rb').read(), argv[0], 'exec'), main.__dict__))\n"
    "    # As at interpreter exit: atexit handlers (logging.shutdown among them),\n"
    "    # then __main__'s globals are cleared the way CPython clears modules,\n"
    "    # so what the script left open is finalised (unclosed files flush).\n"
    "    import atexit, gc\n"
    "    code = exit_code(atexit._run_exitfuncs) or code\n"
    "    atexit._clear()\n"
    "    clear_module_dict(main.__dict__)\n"
    "    gc.collect()\n"
    "    for stream in (sys.stdout, sys.stderr):\n"
    "        try:\n"
    "            stream.flush()\n"
    "        except Exception:\n"
    "            pass\n"
    "    return code\n";

/* A failure of the guest itself, not of the job: say why and trap, so the
 * host reports a crash rather than an exit status the job could have set. */
static void fail(const char *what)
{
    if (PyErr_Occurred())
        PyErr_Print();
    fprintf(stderr, "wasmjobs: %s\n", what);
    fflush(stderr);
    __builtin_trap();
}

__attribute__((export_name("wizer-initialize")))
void wasmjobs_initialize(void)
{
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.use_environment = 0;      /* no PYTHON* variables from the snapshot's environment */
    config.write_bytecode = 0;       /* never write __pycache__ into a job's folder */
    config.user_site_directory = 0;
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, "python3");
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status))
        Py_ExitStatusException(status);

    PyObject *code = Py_CompileString(BOOTSTRAP, "<wasmjobs>", Py_file_input);
    if (!code)
        fail("cannot compile the bootstrap");
    bootstrap = PyImport_ExecCodeModule("_wasmjobs", code);
    Py_DECREF(code);
    if (!bootstrap)
        fail("cannot load the bootstrap");
    PyObject *r = PyObject_CallMethod(bootstrap, "warm", NULL);
    if (!r)
        fail("cannot import the standard modules");
    Py_DECREF(r);
}

static PyObject *wasi_args(void)
{
    __wasi_size_t argc = 0, size = 0;
    if (__wasi_args_sizes_get(&argc, &size) != 0)
        return NULL;
    char **argv = calloc(argc + 1, sizeof(char *));
    char *buf = malloc(size ? size : 1);
    if (!argv || !buf || __wasi_args_get((uint8_t **)argv, (uint8_t *)buf) != 0)
        return NULL;
    PyObject *list = PyList_New(0);
    for (__wasi_size_t i = 0; list && i < argc; i++) {
        PyObject *s = PyUnicode_DecodeFSDefault(argv[i]);
        if (!s || PyList_Append(list, s) < 0) {
            Py_XDECREF(s);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(s);
    }
    free(argv);
    free(buf);
    return list;
}

static PyObject *environment(void)
{
    PyObject *list = PyList_New(0);
    for (char **e = environ; list && e && *e; e++) {
        PyObject *b = PyBytes_FromString(*e);
        if (!b || PyList_Append(list, b) < 0) {
            Py_XDECREF(b);
            Py_CLEAR(list);
        } else {
            Py_DECREF(b);
        }
    }
    return list;
}

__attribute__((export_name("wasmjobs-run")))
void wasmjobs_run(void)
{
    if (!bootstrap)
        fail("the guest was not pre-initialised");
    /* This run's environment, not the snapshot's. */
    __wasilibc_deinitialize_environ();
    __wasilibc_initialize_environ();
    const char *cwd = getenv("WASMJOBS_GUEST_CWD");
    char dir[4096] = "/";
    if (cwd && *cwd) {
        snprintf(dir, sizeof dir, "%s", cwd);
        if (chdir(dir) != 0) {
            fprintf(stderr, "wasmjobs: cannot enter working directory '%s': %s\n", dir, strerror(errno));
            __builtin_trap();
        }
    }
    unsetenv("WASMJOBS_GUEST_CWD");

    PyObject *args = wasi_args();
    PyObject *env = environment();
    if (!args || !env || PyList_Size(args) < 1)
        fail("cannot read the run's arguments and environment");
    PyObject *cwd_obj = PyUnicode_DecodeFSDefault(dir);
    PyObject *r = PyObject_CallMethod(bootstrap, "run", "OOO", args, env, cwd_obj);
    if (!r)
        fail("the bootstrap failed");
    long status = PyLong_AsLong(r);
    fflush(stdout);
    fflush(stderr);
    _Exit((int)status);
}
