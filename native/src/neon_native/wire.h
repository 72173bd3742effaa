/* The protobuf wire format, read in place: shared by the walker (_otlp.c) and the mapper (_map.c). */

#ifndef NEON_WIRE_H
#define NEON_WIRE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

extern PyObject *neon_MalformedBody;

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} Buf;

static inline int fail(const char *what) {
    PyErr_SetString(neon_MalformedBody, what);
    return -1;
}

static inline int varint(Buf *b, uint64_t *out) {
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

static inline int fixed64(Buf *b, uint64_t *out) {
    if (b->end - b->p < 8) return fail("truncated fixed64");
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--) value = (value << 8) | b->p[i];
    b->p += 8;
    *out = value;
    return 0;
}

static inline int tag(Buf *b, uint32_t *field, int *wire) {
    uint64_t t;
    if (varint(b, &t)) return -1;
    *field = (uint32_t)(t >> 3);
    *wire = (int)(t & 7);
    if (*field == 0) return fail("field number 0");
    return 0;
}

static inline int sub(Buf *b, Buf *out) {
    uint64_t n;
    if (varint(b, &n)) return -1;
    if (n > (uint64_t)(b->end - b->p)) return fail("truncated length-delimited field");
    out->p = b->p;
    out->end = b->p + n;
    b->p += n;
    return 0;
}

static inline int skip(Buf *b, int wire) {
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

/* The next occurrence of length-delimited field `want` of a message into *out, the other fields skipped: 1 if
   found, 0 at the message's end, -1 on failure (`want` with another wire type is refused). */
static inline int next_field(Buf *b, uint32_t want, Buf *out) {
    while (b->p < b->end) {
        uint32_t field;
        int wire;
        if (tag(b, &field, &wire)) return -1;
        if (field != want) {
            if (skip(b, wire)) return -1;
            continue;
        }
        if (wire != 2) return fail("unexpected wire type");
        return sub(b, out) ? -1 : 1;
    }
    return 0;
}

#define EXPECT(w) do { if (wire != (w)) { fail("unexpected wire type"); goto error; } } while (0)

/* From the walker, for the spans the mapper leaves to Python: a span as `walk` gives it, and a ResourceSpans'
   resource attributes as (key, value) pairs appended to `into`. */
PyObject *neon_walk_span(Buf whole);
int neon_walk_resource_pairs(Buf resource_spans, PyObject *into);
PyObject *neon_map(PyObject *module, PyObject *args);
PyObject *neon_map_tables(PyObject *module, PyObject *arg);
void neon_map_init(void);

#endif
