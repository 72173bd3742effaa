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

#include "wire.h"

#define MAX_DEPTH 32

PyObject *neon_MalformedBody;
static PyObject *b64encode;

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

typedef int (*Each)(Buf item, PyObject **into, int depth);

/* Calls `each` with every field 1 of a message (each one length-delimited), skipping the other fields. */
static int each_first(Buf b, Each each, PyObject **into, int depth) {
    Buf s;
    int found;
    while ((found = next_field(&b, 1, &s)) > 0)
        if (each(s, into, depth)) return -1;
    return found;
}

/* A KeyValue, appended to the list *into as (key, value). */
static int add_pair(Buf s, PyObject **into, int depth) {
    PyObject *key, *value;
    if (key_value(s, depth, &key, &value)) return -1;
    PyObject *pair = PyTuple_Pack(2, key, value);
    Py_DECREF(key);
    Py_DECREF(value);
    if (!pair) return -1;
    int rc = PyList_Append(*into, pair);
    Py_DECREF(pair);
    return rc;
}

/* A KeyValue, set in the dict *into (a later key wins, as in a dict built from the pairs). */
static int set_pair(Buf s, PyObject **into, int depth) {
    PyObject *key, *value;
    if (key_value(s, depth, &key, &value)) return -1;
    int rc = PyDict_SetItem(*into, key, value);
    Py_DECREF(key);
    Py_DECREF(value);
    return rc;
}

/* An AnyValue, appended to the list *into. */
static int add_value(Buf s, PyObject **into, int depth) {
    PyObject *item = any_value(s, depth + 1);
    if (!item) return -1;
    int rc = PyList_Append(*into, item);
    Py_DECREF(item);
    return rc;
}

/* Text, replacing *into (a field given twice: the last wins). */
static int set_text(Buf s, PyObject **into, int Py_UNUSED(depth)) {
    PyObject *t = text(s);
    if (!t) return -1;
    Py_SETREF(*into, t);
    return 0;
}

/* `into` (a new list or dict, stolen) filled with `each` from the message's fields 1; NULL on failure. */
static PyObject *collect(Buf b, PyObject *into, Each each, int depth) {
    if (!into) return NULL;
    if (each_first(b, each, &into, depth)) {
        Py_DECREF(into);
        return NULL;
    }
    return into;
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
            next = field == 5 ? collect(s, PyList_New(0), add_value, depth)
                              : collect(s, PyDict_New(), set_pair, depth);
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

PyObject *neon_walk_span(Buf whole) {
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
            if (sub(&b, &s) || add_pair(s, &attributes, 0)) goto error;
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

/* A message whose field 1 is a sub-message read into `head` (stolen) by `each` over its fields 1, and whose field 2
   repeats messages read by `parse`: returns (head, [parsed, ...]). A head given twice merges, as in protobuf. */
static PyObject *head_and_items(Buf b, PyObject *head, Each each, PyObject *(*parse)(Buf)) {
    PyObject *items = PyList_New(0);
    PyObject *result = NULL;
    if (!head || !items) goto error;
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        Buf s;
        if (tag(&b, &field, &wire)) goto error;
        if (field == 1) {
            EXPECT(2);
            if (sub(&b, &s) || each_first(s, each, &head, 0)) goto error;
        } else if (field == 2) {
            EXPECT(2);
            if (append_parsed(items, &b, parse)) goto error;
        } else if (skip(&b, wire)) {
            goto error;
        }
    }
    result = PyTuple_Pack(2, head, items);
error:
    Py_XDECREF(head);
    Py_XDECREF(items);
    return result;
}

/* ScopeSpans: (the InstrumentationScope's name, its spans). */
static PyObject *scope_spans(Buf b) {
    return head_and_items(b, PyUnicode_FromStringAndSize("", 0), set_text, neon_walk_span);
}

/* A ResourceSpans' resource attributes (a resource given twice merges), appended to `into` as (key, value). */
int neon_walk_resource_pairs(Buf b, PyObject *into) {
    Buf s;
    int found;
    while ((found = next_field(&b, 1, &s)) > 0)
        if (each_first(s, add_pair, &into, 0)) return -1;
    return found;
}

/* ResourceSpans: (the Resource's attributes, its ScopeSpans). */
static PyObject *resource_spans(Buf b) {
    return head_and_items(b, PyList_New(0), add_pair, scope_spans);
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
    {"map", neon_map, METH_VARARGS, "Map an OTLP ExportTraceServiceRequest onto span columns (see _map.c)."},
    {"map_tables", neon_map_tables, METH_NOARGS, "The mapper's semantic-convention tables (see _map.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "neon_native._otlp", NULL, -1, methods};

PyMODINIT_FUNC PyInit__otlp(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    neon_map_init();
    neon_MalformedBody = PyErr_NewException("neon_native._otlp.MalformedBody", PyExc_ValueError, NULL);
    PyObject *base64 = PyImport_ImportModule("base64");
    if (!neon_MalformedBody || !base64) goto error;
    b64encode = PyObject_GetAttrString(base64, "b64encode");
    Py_DECREF(base64);
    if (!b64encode) goto error;
    Py_INCREF(neon_MalformedBody);
    if (PyModule_AddObject(m, "MalformedBody", neon_MalformedBody)) {
        Py_DECREF(neon_MalformedBody);
        goto error;
    }
    return m;
error:
    Py_DECREF(m);
    return NULL;
}
