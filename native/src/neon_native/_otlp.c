/* Walks an OTLP ExportTraceServiceRequest (protobuf wire format) into plain Python values in one pass.

   It reads the fields the span mapper uses and skips the rest; the mapping itself stays in Python
   (neon_server/ingest/semconv.py). Reading the same fields through protobuf's Python message objects costs
   ~1 µs per attribute; here the whole request is read at C speed.

   walk(body) -> [(resource_attributes, [(scope_name, [span, ...]), ...]), ...]
   span = (trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, status_message,
           attributes, extra)
   attributes = [(key, value), ...]; a value is None, str, int, float, bool, list or dict, as the AnyValue
   holds it (bytes as base64 text); extra = the span's own bytes when it has events or links (the caller
   parses those few with protobuf), else None.

   Anything it does not expect (a wire type a field cannot have, a message-typed value given twice, nesting
   deeper than MAX_DEPTH, text that is not UTF-8) raises MalformedBody (or UnicodeDecodeError): the caller
   then reads the body with protobuf, which decides. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 32

static PyObject *MalformedBody;
static PyObject *b64encode;

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} Buf;

static int fail(const char *what) {
    PyErr_SetString(MalformedBody, what);
    return -1;
}

static int varint(Buf *b, uint64_t *out) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) return fail("truncated varint");
        uint8_t byte = *b->p++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = value;
            return 0;
        }
    }
    return fail("varint longer than 10 bytes");
}

static int fixed64(Buf *b, uint64_t *out) {
    if (b->end - b->p < 8) return fail("truncated fixed64");
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--) value = (value << 8) | b->p[i];
    b->p += 8;
    *out = value;
    return 0;
}

static int tag(Buf *b, uint32_t *field, int *wire) {
    uint64_t t;
    if (varint(b, &t)) return -1;
    *field = (uint32_t)(t >> 3);
    *wire = (int)(t & 7);
    if (*field == 0) return fail("field number 0");
    return 0;
}

static int sub(Buf *b, Buf *out) {
    uint64_t n;
    if (varint(b, &n)) return -1;
    if (n > (uint64_t)(b->end - b->p)) return fail("truncated length-delimited field");
    out->p = b->p;
    out->end = b->p + n;
    b->p += n;
    return 0;
}

static int skip(Buf *b, int wire) {
    uint64_t ignored;
    Buf s;
    switch (wire) {
    case 0: return varint(b, &ignored);
    case 1: return fixed64(b, &ignored);
    case 2: return sub(b, &s);
    case 5:
        if (b->end - b->p < 4) return fail("truncated fixed32");
        b->p += 4;
        return 0;
    default: return fail("unsupported wire type");
    }
}

#define EXPECT(w) do { if (wire != (w)) { fail("unexpected wire type"); goto error; } } while (0)

static PyObject *text(Buf s) {
    return PyUnicode_DecodeUTF8((const char *)s.p, s.end - s.p, NULL);
}

static PyObject *raw(Buf s) {
    return PyBytes_FromStringAndSize((const char *)s.p, s.end - s.p);
}

static PyObject *any_value(Buf b, int depth);

/* KeyValue: sets *key and *value (new references). */
static int key_value(Buf b, int depth, PyObject **key, PyObject **value) {
    int value_seen = 0;
    *key = NULL;
    *value = NULL;
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        Buf s;
        if (tag(&b, &field, &wire)) goto error;
        if (field == 1) {
            EXPECT(2);
            if (sub(&b, &s)) goto error;
            PyObject *k = text(s);
            if (!k) goto error;
            Py_XSETREF(*key, k);
        } else if (field == 2) {
            EXPECT(2);
            if (value_seen++) { fail("a KeyValue's value given twice"); goto error; }
            if (sub(&b, &s)) goto error;
            *value = any_value(s, depth + 1);
            if (!*value) goto error;
        } else if (skip(&b, wire)) {
            goto error;
        }
    }
    if (!*key) *key = PyUnicode_FromStringAndSize("", 0);
    if (!*value) {
        *value = Py_None;
        Py_INCREF(Py_None);
    }
    if (!*key) goto error;
    return 0;
error:
    Py_CLEAR(*key);
    Py_CLEAR(*value);
    return -1;
}

/* Appends (key, value) of one KeyValue to `list`. */
static int append_pair(PyObject *list, Buf s, int depth) {
    PyObject *key, *value;
    if (key_value(s, depth, &key, &value)) return -1;
    PyObject *pair = PyTuple_Pack(2, key, value);
    Py_DECREF(key);
    Py_DECREF(value);
    if (!pair) return -1;
    int rc = PyList_Append(list, pair);
    Py_DECREF(pair);
    return rc;
}

/* Parses a length-delimited message with `parse` and appends what it returns to `list`. */
static int append_parsed(PyObject *list, Buf *b, PyObject *(*parse)(Buf)) {
    Buf s;
    if (sub(b, &s)) return -1;
    PyObject *one = parse(s);
    if (!one) return -1;
    int rc = PyList_Append(list, one);
    Py_DECREF(one);
    return rc;
}

static PyObject *array_value(Buf b, int depth) {
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        Buf s;
        if (tag(&b, &field, &wire)) goto error;
        if (field == 1) {
            EXPECT(2);
            if (sub(&b, &s)) goto error;
            PyObject *item = any_value(s, depth + 1);
            if (!item) goto error;
            int rc = PyList_Append(list, item);
            Py_DECREF(item);
            if (rc) goto error;
        } else if (skip(&b, wire)) {
            goto error;
        }
    }
    return list;
error:
    Py_DECREF(list);
    return NULL;
}

static PyObject *kvlist_value(Buf b, int depth) {
    PyObject *dict = PyDict_New();
    if (!dict) return NULL;
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        Buf s;
        if (tag(&b, &field, &wire)) goto error;
        if (field == 1) {
            EXPECT(2);
            if (sub(&b, &s)) goto error;
            PyObject *key, *value;
            if (key_value(s, depth, &key, &value)) goto error;
            int rc = PyDict_SetItem(dict, key, value);
            Py_DECREF(key);
            Py_DECREF(value);
            if (rc) goto error;
        } else if (skip(&b, wire)) {
            goto error;
        }
    }
    return dict;
error:
    Py_DECREF(dict);
    return NULL;
}

static PyObject *any_value(Buf b, int depth) {
    if (depth > MAX_DEPTH) {
        fail("values nested too deep");
        return NULL;
    }
    PyObject *result = Py_None;
    Py_INCREF(Py_None);
    uint32_t result_field = 0;
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        Buf s;
        uint64_t v;
        PyObject *next = NULL;
        if (tag(&b, &field, &wire)) goto error;
        switch (field) {
        case 1:
            EXPECT(2);
            if (sub(&b, &s)) goto error;
            next = text(s);
            break;
        case 2:
            EXPECT(0);
            if (varint(&b, &v)) goto error;
            next = PyBool_FromLong(v != 0);
            break;
        case 3:
            EXPECT(0);
            if (varint(&b, &v)) goto error;
            next = PyLong_FromLongLong((long long)(int64_t)v);
            break;
        case 4: {
            EXPECT(1);
            if (fixed64(&b, &v)) goto error;
            double d;
            memcpy(&d, &v, sizeof d);
            next = PyFloat_FromDouble(d);
            break;
        }
        case 5:
        case 6:
            EXPECT(2);
            if (result_field == field) { fail("a message-typed value given twice"); goto error; }
            if (sub(&b, &s)) goto error;
            next = field == 5 ? array_value(s, depth) : kvlist_value(s, depth);
            break;
        case 7: {
            EXPECT(2);
            if (sub(&b, &s)) goto error;
            PyObject *bytes = raw(s);
            if (!bytes) goto error;
            PyObject *encoded = PyObject_CallOneArg(b64encode, bytes);
            Py_DECREF(bytes);
            if (!encoded) goto error;
            next = PyUnicode_FromEncodedObject(encoded, "ascii", "strict");
            Py_DECREF(encoded);
            break;
        }
        default:
            if (skip(&b, wire)) goto error;
            continue;
        }
        if (!next) goto error;
        Py_SETREF(result, next);
        result_field = field;
    }
    return result;
error:
    Py_DECREF(result);
    return NULL;
}

/* Status: fields present overwrite (protobuf merges a message given twice). */
static int status(Buf b, int64_t *code, PyObject **message) {
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        Buf s;
        uint64_t v;
        if (tag(&b, &field, &wire)) return -1;
        if (field == 2) {
            if (wire != 2) return fail("unexpected wire type");
            if (sub(&b, &s)) return -1;
            PyObject *m = text(s);
            if (!m) return -1;
            Py_SETREF(*message, m);
        } else if (field == 3) {
            if (wire != 0) return fail("unexpected wire type");
            if (varint(&b, &v)) return -1;
            *code = (int32_t)v;
        } else if (skip(&b, wire)) {
            return -1;
        }
    }
    return 0;
}

static PyObject *span(Buf whole) {
    Buf b = whole;
    Buf trace_id = {NULL, NULL}, span_id = {NULL, NULL}, parent = {NULL, NULL};
    int64_t kind = 0, code = 0;
    uint64_t start = 0, end = 0;
    int extra = 0;
    PyObject *name = PyUnicode_FromStringAndSize("", 0);
    PyObject *message = PyUnicode_FromStringAndSize("", 0);
    PyObject *attributes = PyList_New(0);
    PyObject *result = NULL;
    if (!name || !message || !attributes) goto error;
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        Buf s;
        uint64_t v;
        if (tag(&b, &field, &wire)) goto error;
        switch (field) {
        case 1: EXPECT(2); if (sub(&b, &trace_id)) goto error; break;
        case 2: EXPECT(2); if (sub(&b, &span_id)) goto error; break;
        case 4: EXPECT(2); if (sub(&b, &parent)) goto error; break;
        case 5: {
            EXPECT(2);
            if (sub(&b, &s)) goto error;
            PyObject *n = text(s);
            if (!n) goto error;
            Py_SETREF(name, n);
            break;
        }
        case 6: EXPECT(0); if (varint(&b, &v)) goto error; kind = (int32_t)v; break;
        case 7: EXPECT(1); if (fixed64(&b, &start)) goto error; break;
        case 8: EXPECT(1); if (fixed64(&b, &end)) goto error; break;
        case 9:
            EXPECT(2);
            if (sub(&b, &s) || append_pair(attributes, s, 0)) goto error;
            break;
        case 11:
        case 13:
            EXPECT(2);
            extra = 1;
            if (sub(&b, &s)) goto error;
            break;
        case 15:
            EXPECT(2);
            if (sub(&b, &s) || status(s, &code, &message)) goto error;
            break;
        default:
            if (skip(&b, wire)) goto error;
        }
    }
    PyObject *extra_bytes = extra ? raw(whole) : Py_NewRef(Py_None);
    if (!extra_bytes) goto error;
    result = Py_BuildValue("(y#y#y#OLKKLOON)",
                           trace_id.p ? (const char *)trace_id.p : "", (Py_ssize_t)(trace_id.end - trace_id.p),
                           span_id.p ? (const char *)span_id.p : "", (Py_ssize_t)(span_id.end - span_id.p),
                           parent.p ? (const char *)parent.p : "", (Py_ssize_t)(parent.end - parent.p),
                           name, (long long)kind, (unsigned long long)start, (unsigned long long)end,
                           (long long)code, message, attributes, extra_bytes);
error:
    Py_XDECREF(name);
    Py_XDECREF(message);
    Py_XDECREF(attributes);
    if (PyErr_Occurred()) Py_CLEAR(result);
    return result;
}

static PyObject *scope_spans(Buf b) {
    PyObject *scope = PyUnicode_FromStringAndSize("", 0);
    PyObject *spans = PyList_New(0);
    PyObject *result = NULL;
    if (!scope || !spans) goto error;
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        Buf s;
        if (tag(&b, &field, &wire)) goto error;
        if (field == 1) {  /* InstrumentationScope: only its name */
            EXPECT(2);
            if (sub(&b, &s)) goto error;
            while (s.p < s.end) {
                uint32_t f;
                int w;
                Buf n;
                if (tag(&s, &f, &w)) goto error;
                if (f == 1) {
                    if (w != 2) { fail("unexpected wire type"); goto error; }
                    if (sub(&s, &n)) goto error;
                    PyObject *name = text(n);
                    if (!name) goto error;
                    Py_SETREF(scope, name);
                } else if (skip(&s, w)) {
                    goto error;
                }
            }
        } else if (field == 2) {
            EXPECT(2);
            if (append_parsed(spans, &b, span)) goto error;
        } else if (skip(&b, wire)) {
            goto error;
        }
    }
    result = PyTuple_Pack(2, scope, spans);
error:
    Py_XDECREF(scope);
    Py_XDECREF(spans);
    return result;
}

static PyObject *resource_spans(Buf b) {
    PyObject *resource = PyList_New(0);
    PyObject *scopes = PyList_New(0);
    PyObject *result = NULL;
    if (!resource || !scopes) goto error;
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        Buf s;
        if (tag(&b, &field, &wire)) goto error;
        if (field == 1) {  /* Resource: its attributes (a Resource given twice merges: attributes add up) */
            EXPECT(2);
            if (sub(&b, &s)) goto error;
            while (s.p < s.end) {
                uint32_t f;
                int w;
                Buf kv;
                if (tag(&s, &f, &w)) goto error;
                if (f == 1) {
                    if (w != 2) { fail("unexpected wire type"); goto error; }
                    if (sub(&s, &kv) || append_pair(resource, kv, 0)) goto error;
                } else if (skip(&s, w)) {
                    goto error;
                }
            }
        } else if (field == 2) {
            EXPECT(2);
            if (append_parsed(scopes, &b, scope_spans)) goto error;
        } else if (skip(&b, wire)) {
            goto error;
        }
    }
    result = PyTuple_Pack(2, resource, scopes);
error:
    Py_XDECREF(resource);
    Py_XDECREF(scopes);
    return result;
}

static PyObject *walk(PyObject *Py_UNUSED(module), PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)) return NULL;
    Buf b = {(const uint8_t *)view.buf, (const uint8_t *)view.buf + view.len};
    PyObject *resources = PyList_New(0);
    if (!resources) goto error;
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        if (tag(&b, &field, &wire)) goto error;
        if (field == 1) {
            EXPECT(2);
            if (append_parsed(resources, &b, resource_spans)) goto error;
        } else if (skip(&b, wire)) {
            goto error;
        }
    }
    PyBuffer_Release(&view);
    return resources;
error:
    Py_XDECREF(resources);
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_O, "Walk an OTLP ExportTraceServiceRequest into plain values (see the module's source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "neon_native._otlp", NULL, -1, methods};

PyMODINIT_FUNC PyInit__otlp(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    MalformedBody = PyErr_NewException("neon_native._otlp.MalformedBody", PyExc_ValueError, NULL);
    PyObject *base64 = PyImport_ImportModule("base64");
    if (!MalformedBody || !base64) goto error;
    b64encode = PyObject_GetAttrString(base64, "b64encode");
    Py_DECREF(base64);
    if (!b64encode) goto error;
    Py_INCREF(MalformedBody);
    if (PyModule_AddObject(m, "MalformedBody", MalformedBody)) {
        Py_DECREF(MalformedBody);
        goto error;
    }
    return m;
error:
    Py_DECREF(m);
    return NULL;
}
