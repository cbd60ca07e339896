/*
 * shim.h — the CPython C API (3.10 to 3.13) as Swift sees it, plus static-inline helpers for
 * what Swift cannot import: address macros (Py_None, Py_True, Py_False), type-check macros
 * (PyBytes_Check, ...) and the object layout of the host's own native types. Every helper is
 * prefixed swpy_.
 *
 * This header is the one place where differences between CPython versions' C APIs are handled
 * (selected by PY_VERSION_HEX); the Swift-side differences live in
 * Sources/PythonHost/PythonVersion.swift. Nothing else may assume one version.
 */
#ifndef SWIFTWSGI_CPYTHON_SHIM_H
#define SWIFTWSGI_CPYTHON_SHIM_H

/* The C library first, with the same feature macros as Swift's Glibc module: pyconfig.h
 * defines _GNU_SOURCE, which would otherwise give struct definitions (fd_set, ...) that clash
 * with Glibc's when both modules are imported into one Swift file. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>
#include <wchar.h>

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <structmember.h>

#if PY_VERSION_HEX < 0x030A0000 || PY_VERSION_HEX >= 0x030E0000
#error "mod_swiftwsgi is built and tested against CPython 3.10 to 3.13"
#endif
/* Free-threaded builds (PEP 703, 3.13t) are refused at build time: the host's locking has been
 * audited for sub-interpreters with their own GIL (PythonRuntime.swift, Interpreter.swift), but
 * a free-threaded build also changes the object layout this header reaches into
 * (swpy_host_object, the immortal-object and reference-count rules PyRef relies on), and no such
 * build exists on the machines this is tested on. docs/gil-modes.md says what was not run. */
#ifdef Py_GIL_DISABLED
#error "mod_swiftwsgi needs a CPython with the GIL (not a free-threaded 3.13t build)"
#endif

/* 3.10 spells Py_XINCREF/Py_XDECREF as macros over _Py_XINCREF/_Py_XDECREF, which Swift does
 * not import; 3.11 made them static inline functions of those names. Give 3.10 the same. */
#if PY_VERSION_HEX < 0x030B0000
#undef Py_XINCREF
#undef Py_XDECREF
static inline void Py_XINCREF(PyObject *op) { _Py_XINCREF(op); }
static inline void Py_XDECREF(PyObject *op) { _Py_XDECREF(op); }
#endif

/*
 * The main-interpreter thread state to finalise with: one that this thread's PyGILState slot
 * names, so that a C extension's PyGILState_Ensure in an atexit callback finds the state that
 * already holds the GIL. `current` is this thread's current main-interpreter state (GIL held).
 * Since 3.12, PyThreadState_Delete of a state bound to another thread's slot clears the
 * *calling* thread's slot (pystate.c: tstate_delete_common -> unbind_gilstate_tstate), which
 * the host does at exit for the worker threads' states; PyGILState_Ensure would then make a
 * second state for this thread and wait for the GIL it holds (3.12: hang) or abort (3.13:
 * "_PyThreadState_Attach: non-NULL old thread state"). PyGILState_Ensure with the GIL
 * released binds a state again. Up to 3.11 deleting another thread's state leaves this
 * thread's binding alone.
 */
static inline PyThreadState *swpy_gilstate_bound_state(PyThreadState *current) {
#if PY_VERSION_HEX >= 0x030C0000
    if (PyGILState_GetThisThreadState() == current) return current;
    PyEval_SaveThread();
    (void)PyGILState_Ensure();
    PyThreadState *bound = PyThreadState_Get();
    if (PyThreadState_GetInterpreter(bound) != PyThreadState_GetInterpreter(current)) {
        PyEval_SaveThread();
        PyEval_RestoreThread(current);
        return current;
    }
    return bound;
#else
    return current;
#endif
}

/*
 * A thread state of `current`'s (sub-)interpreter that this thread's PyGILState slot names,
 * made current: `current` itself when the slot names it, else (3.12+) a fresh state, which
 * activating binds. (`current` may be a state another thread last bound, whose activation here
 * does not rebind.) With it, a sub-interpreter's atexit callbacks can use PyGILState_Ensure,
 * supported with sub-interpreters since 3.12; the host runs them before deleting the other
 * threads' states, which may unbind this thread's slot (see above). Up to 3.11: `current`.
 */
static inline PyThreadState *swpy_gilstate_bound_sub_state(PyThreadState *current) {
#if PY_VERSION_HEX >= 0x030C0000
    if (PyGILState_GetThisThreadState() == current) return current;
    PyThreadState *fresh = PyThreadState_New(PyThreadState_GetInterpreter(current));
    if (fresh == NULL) return current;
    PyThreadState_Swap(fresh);
    return fresh;
#else
    return current;
#endif
}

/* The embedded Python's version, for the Swift side (Swift does not import PY_VERSION_HEX's
 * arithmetic consistently across versions; these are plain ints). */
static inline int swpy_version_major(void) { return PY_MAJOR_VERSION; }
static inline int swpy_version_minor(void) { return PY_MINOR_VERSION; }
static inline unsigned long swpy_version_hex(void) { return (unsigned long)PY_VERSION_HEX; }
/* 1 on a free-threaded build (PEP 703: Py_GIL_DISABLED, e.g. 3.13t), else 0. */
static inline int swpy_free_threaded_build(void) {
#ifdef Py_GIL_DISABLED
    return 1;
#else
    return 0;
#endif
}

/*
 * A sub-interpreter for an application group. On success *out is the new interpreter's thread
 * state, current on this thread and holding the new interpreter's GIL.
 *
 * own_gil == 0 (every version): mod_wsgi's classic semantics. It shares the main interpreter's
 * GIL and allocator, may fork, exec and start daemon threads, and imports single-phase-init
 * extension modules. 3.12 added Py_NewInterpreterFromConfig (PEP 684); Py_NewInterpreter()
 * still means exactly this "legacy" configuration there, and it is spelt out so the choice is
 * visible. The caller's GIL is the new interpreter's: switching back is PyThreadState_Swap.
 *
 * own_gil != 0 (3.12+ only; WSGIPerInterpreterGIL, PEP 684): CPython's isolated configuration
 * (_PyInterpreterConfig_INIT in Include/cpython/pylifecycle.h, also what mod_wsgi 6 uses): its
 * own GIL and its own object allocator (an own GIL requires it), extension modules checked for
 * multi-interpreter support (single-phase-init ones raise ImportError; required once the
 * allocator is not the main one), threads allowed but not daemon threads, and no os.fork() or
 * exec (subprocess) from it. Py_NewInterpreterFromConfig releases the caller's GIL before it
 * creates the new one and returns holding only the new one: the caller gets back to its own
 * state with PyEval_SaveThread() then PyEval_RestoreThread(its state), never with
 * PyThreadState_Swap (which on 3.12 moves no GIL). On failure CPython restores the caller's
 * state and *out is NULL.
 * Before 3.12 own_gil is refused (the configuration check refuses the directive there too).
 */
static inline PyStatus swpy_new_interpreter(PyThreadState **out, int own_gil) {
#if PY_VERSION_HEX >= 0x030C0000
    if (own_gil) {
        PyInterpreterConfig isolated = {
            .use_main_obmalloc = 0,
            .allow_fork = 0,
            .allow_exec = 0,
            .allow_threads = 1,
            .allow_daemon_threads = 0,
            .check_multi_interp_extensions = 1,
            .gil = PyInterpreterConfig_OWN_GIL,
        };
        return Py_NewInterpreterFromConfig(out, &isolated);
    }
    PyInterpreterConfig config = {
        .use_main_obmalloc = 1,
        .allow_fork = 1,
        .allow_exec = 1,
        .allow_threads = 1,
        .allow_daemon_threads = 1,
        .check_multi_interp_extensions = 0,
        .gil = PyInterpreterConfig_SHARED_GIL,
    };
    return Py_NewInterpreterFromConfig(out, &config);
#else
    *out = NULL;
    if (own_gil) return PyStatus_Error("a sub-interpreter with its own GIL needs Python 3.12 or later");
    *out = Py_NewInterpreter();
    if (*out == NULL) return PyStatus_Error("Py_NewInterpreter failed");
    return PyStatus_Ok();
#endif
}

/* Whether this Python can give a sub-interpreter its own GIL (PEP 684, 3.12+). */
static inline int swpy_supports_own_gil(void) {
#if PY_VERSION_HEX >= 0x030C0000
    return 1;
#else
    return 0;
#endif
}

/* Address macros: Swift imports neither the macro nor the struct's address. Never NULL
 * (static objects): Swift sees them as non-optional, so no unwrap is needed. */
#pragma clang assume_nonnull begin
static inline PyObject *swpy_none(void) { return Py_None; }
static inline PyObject *swpy_true(void) { return Py_True; }
static inline PyObject *swpy_false(void) { return Py_False; }
#pragma clang assume_nonnull end

/* Type checks: function-like macros over tp_flags, not imported. */
static inline int swpy_bytes_check(PyObject *o) { return PyBytes_Check(o); }
static inline int swpy_unicode_check(PyObject *o) { return PyUnicode_Check(o); }
static inline int swpy_list_check(PyObject *o) { return PyList_Check(o); }
static inline int swpy_tuple_check(PyObject *o) { return PyTuple_Check(o); }
static inline int swpy_long_check(PyObject *o) { return PyLong_Check(o); }
static inline int swpy_list_or_tuple_check_exact(PyObject *o) { return PyList_CheckExact(o) || PyTuple_CheckExact(o); }

/* Unchecked accessors (macros) for objects whose type was just checked. */
static inline PyObject *swpy_list_get_item(PyObject *o, Py_ssize_t i) { return PyList_GET_ITEM(o, i); }
static inline Py_ssize_t swpy_list_size(PyObject *o) { return PyList_GET_SIZE(o); }
static inline PyObject *swpy_tuple_get_item(PyObject *o, Py_ssize_t i) { return PyTuple_GET_ITEM(o, i); }
static inline Py_ssize_t swpy_tuple_size(PyObject *o) { return PyTuple_GET_SIZE(o); }
static inline char *swpy_bytes_as_string(PyObject *o) { return PyBytes_AS_STRING(o); }
static inline Py_ssize_t swpy_bytes_size(PyObject *o) { return PyBytes_GET_SIZE(o); }

/* Variadic functions are not imported: fixed-arity helpers. */
static inline PyObject *swpy_call_method0(PyObject *o, const char *name) {
    return PyObject_CallMethod(o, name, NULL);
}
static inline PyObject *swpy_call_method_n(PyObject *o, const char *name, Py_ssize_t n) {
    return PyObject_CallMethod(o, name, "n", n);
}
static inline PyObject *swpy_call3(PyObject *f, PyObject *a, PyObject *b, PyObject *c) {
    PyObject *args[3] = {a, b, c};
    return PyObject_Vectorcall(f, args, 3, NULL);
}
static inline PyObject *swpy_call2(PyObject *f, PyObject *a, PyObject *b) {
    PyObject *args[2] = {a, b};
    return PyObject_Vectorcall(f, args, 2, NULL);
}

/*
 * Layout of the host's native objects (wsgi.input, wsgi.errors, start_response, file_wrapper):
 * ctx points at the Swift request state while the request runs and is NULL before and after it,
 * so an object an application kept past its request raises instead of touching freed memory.
 */
typedef struct {
    PyObject_HEAD
    void *ctx;
    PyObject *first;   /* owned, may be NULL (file_wrapper: the file-like object) */
    PyObject *second;  /* owned, may be NULL */
    Py_ssize_t number; /* file_wrapper: block size; log: level */
} swpy_host_object;

static inline swpy_host_object *swpy_host(PyObject *o) { return (swpy_host_object *)o; }
static inline int swpy_host_object_size(void) { return (int)sizeof(swpy_host_object); }
static inline Py_ssize_t swpy_host_first_offset(void) { return offsetof(swpy_host_object, first); }
static inline Py_ssize_t swpy_host_number_offset(void) { return offsetof(swpy_host_object, number); }
static inline PyTypeObject *swpy_type(PyObject *o) { return Py_TYPE(o); }
static inline int swpy_is_type(PyObject *o, PyObject *type) { return (PyObject *)Py_TYPE(o) == type; }

/* PyConfig string setters take a pointer into the config struct: done in C so Swift does not
 * hold two accesses to the same heap PyConfig at once. */
static inline PyStatus swpy_config_set_program_name(PyConfig *c, const char *v) {
    return PyConfig_SetBytesString(c, &c->program_name, v);
}
static inline PyStatus swpy_config_set_home(PyConfig *c, const char *v) {
    return PyConfig_SetBytesString(c, &c->home, v);
}
static inline PyStatus swpy_config_add_warnoption(PyConfig *c, const char *v) {
    wchar_t *w = Py_DecodeLocale(v, NULL);
    if (w == NULL) return PyStatus_NoMemory();
    PyStatus s = PyWideStringList_Append(&c->warnoptions, w);
    PyMem_RawFree(w);
    return s;
}
static inline int swpy_status_is_exception(PyStatus s) { return PyStatus_Exception(s); }

#endif
