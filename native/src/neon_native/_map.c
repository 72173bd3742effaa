/* Maps an OTLP ExportTraceServiceRequest straight onto Arrow column buffers: the semantic-convention mapping of
   neon_server/ingest/semconv.py (`append_span`, `ResourceInfo`) at C speed, with no Python object per value.

   map([(body, project_id, ingest_request), ...], max_attribute_bytes, max_payload_bytes, now_ns)
       -> (spans, span_count, payloads, payload_count, [outcome, ...])
   The requests' rows in one set of columns (a chunk the engine reads at once, with no joining of tables after).
   spans / payloads: column name -> bytes (fixed width), (offsets, data) for text, (validity, data) for cost,
   (offsets, (key offsets, key data), (value offsets, value data)) for maps; the Arrow layouts of
   ingest/columns.py's SPAN_SCHEMA and PAYLOAD_SCHEMA (tags, always empty here, left out).
   outcome, for each request: (rejected, reasons, rest), or None when the request is left to Python whole (its
   rows rolled back).
   rejected, reasons: spans refused (bad ids or times, duplicates), with the decoder's reasons.
   rest: [(resource attributes, scope name, span), ...] in `walk`'s shapes: the spans this mapper leaves to the
   Python mapper, which handles every case (events or links, values that are lists, maps, bytes or empty, flattened
   message lists, tags, numbers given as text, case mapping of non-ASCII text). They have passed the id, time and
   duplicate checks here.

   A request with anything the walker would refuse (see _otlp.c) or text that is not UTF-8 is left to Python
   whole: the caller decodes it with protobuf. The tables below mirror semconv.py; `tables()` returns them so a test holds
   the two equal. */

#include "wire.h"

#include <math.h>

/* ---------------------------------------------------------------- the semantic conventions, as data */
enum {
    F_SPAN_TYPE, F_OI_KIND, F_OPERATION, F_COMPONENT, F_MODEL, F_PROVIDER, F_INPUT_TOKENS, F_OUTPUT_TOKENS,
    F_TOTAL_TOKENS, F_CACHED_TOKENS, F_COST, F_TOOL, F_SESSION, F_USER, F_AGENT, F_AGENT_VERSION, F_ENVIRONMENT,
    F_TAGS, F_ERROR, F_INPUT, F_OUTPUT, F_SYSTEM, N_FIELDS
};
#define MAX_FIELD_KEYS 6

static const struct {
    const char *name;
    const char *keys[MAX_FIELD_KEYS + 1];
} FIELDS[N_FIELDS] = {
    {"span_type", {"neon.span_type"}},
    {"oi_kind", {"openinference.span.kind"}},
    {"operation", {"gen_ai.operation.name"}},
    {"component_type", {"neon.component_type"}},
    {"model", {"neon.model", "gen_ai.response.model", "gen_ai.request.model", "llm.model_name"}},
    {"provider", {"neon.provider", "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"}},
    {"input_tokens", {"gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"}},
    {"output_tokens", {"gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                       "llm.token_count.completion"}},
    {"total_tokens", {"gen_ai.usage.total_tokens", "llm.token_count.total"}},
    {"cached_input_tokens", {"gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
                             "gen_ai.usage.input_tokens.cached", "llm.token_count.prompt_details.cache_read"}},
    {"cost", {"neon.cost", "gen_ai.usage.cost", "llm.cost.total"}},
    {"tool_name", {"neon.tool.name", "gen_ai.tool.name", "tool.name"}},
    {"session_id", {"neon.session_id", "session.id", "gen_ai.conversation.id"}},
    {"user_id", {"neon.user_id", "user.id", "enduser.id"}},
    {"agent_id", {"neon.agent_id", "gen_ai.agent.id", "gen_ai.agent.name", "agent.name"}},
    {"agent_version", {"neon.agent_version", "gen_ai.agent.version"}},
    {"environment", {"neon.environment", "deployment.environment.name", "deployment.environment"}},
    {"tags", {"neon.tags", "tag.tags"}},
    {"error_type", {"error.type", "exception.type"}},
    {"input", {"neon.input", "gen_ai.input.messages", "input.value", "gen_ai.tool.call.arguments",
               "tool.parameters", "gen_ai.prompt"}},
    {"output", {"neon.output", "gen_ai.output.messages", "output.value", "gen_ai.tool.call.result",
                "gen_ai.completion"}},
    {"system_instructions", {"gen_ai.system_instructions"}},
};
static const int PAYLOAD_FIELDS[] = {F_INPUT, F_OUTPUT, F_SYSTEM};
static const int RESOURCE_FIELDS[] = {F_ENVIRONMENT, F_SESSION, F_USER, F_AGENT, F_AGENT_VERSION};
#define N_RESOURCE_FIELDS 5

#define PREFIX(text, message) {text, sizeof(text) - 1, message}
static const struct {
    const char *prefix;
    size_t len;
    int message;  /* a flattened message list: left to Python */
} PAYLOAD_PREFIXES[] = {
    PREFIX("llm.input_messages.", 1), PREFIX("llm.output_messages.", 1), PREFIX("gen_ai.prompt.", 1),
    PREFIX("gen_ai.completion.", 1), PREFIX("retrieval.documents.", 0), PREFIX("reranker.input_documents.", 0),
    PREFIX("reranker.output_documents.", 0),
};
#define N_PREFIXES (sizeof PAYLOAD_PREFIXES / sizeof PAYLOAD_PREFIXES[0])

static const char *SPAN_TYPES[] = {"span", "generation", "embedding", "tool", "retrieval", "reranker", "agent",
                                   "workflow", "chain", "guardrail", "evaluator", "event", NULL};
static const char *OPENINFERENCE_KINDS[][2] = {
    {"LLM", "generation"}, {"EMBEDDING", "embedding"}, {"CHAIN", "chain"}, {"RETRIEVER", "retrieval"},
    {"RERANKER", "reranker"}, {"TOOL", "tool"}, {"AGENT", "agent"}, {"GUARDRAIL", "guardrail"},
    {"EVALUATOR", "evaluator"}, {"PROMPT", "span"}, {"DECISION", "span"}, {NULL, NULL}};
static const char *GENAI_OPERATIONS[][2] = {
    {"chat", "generation"}, {"text_completion", "generation"}, {"generate_content", "generation"},
    {"completion", "generation"}, {"embeddings", "embedding"}, {"execute_tool", "tool"},
    {"invoke_agent", "agent"}, {"create_agent", "agent"}, {NULL, NULL}};
static const char *SPAN_KINDS[] = {NULL, NULL, "server", "client", "producer", "consumer"};
static const char *STATUS[] = {"unset", "ok", "error"};

/* Every key of FIELDS: its field and whether it carries a payload; found by hash. */
#define KEY_TABLE 512
typedef struct {
    const char *key;
    size_t len;
    int field;
    int payload;
} KeyInfo;
static KeyInfo key_table[KEY_TABLE];

static uint32_t hash(const char *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

static void build_key_table(void) {
    for (int f = 0; f < N_FIELDS; f++) {
        int payload = f == F_INPUT || f == F_OUTPUT || f == F_SYSTEM;
        for (int k = 0; FIELDS[f].keys[k]; k++) {
            const char *key = FIELDS[f].keys[k];
            uint32_t at = hash(key, strlen(key)) % KEY_TABLE;
            while (key_table[at].key) at = (at + 1) % KEY_TABLE;
            key_table[at] = (KeyInfo){key, strlen(key), f, payload};
        }
    }
}

static const KeyInfo *key_info(const char *p, size_t n) {
    for (uint32_t at = hash(p, n) % KEY_TABLE; key_table[at].key; at = (at + 1) % KEY_TABLE)
        if (key_table[at].len == n && !memcmp(key_table[at].key, p, n)) return &key_table[at];
    return NULL;
}

/* ---------------------------------------------------------------- growable buffers and Arrow columns */
typedef struct {
    char *p;
    size_t n, cap;
} Vec;

static int put(Vec *v, const void *src, size_t len) {
    if (v->n + len > v->cap) {
        size_t cap = v->cap ? v->cap : 1024;
        while (cap < v->n + len) cap *= 2;
        char *p = PyMem_Realloc(v->p, cap);
        if (!p) {
            PyErr_NoMemory();
            return -1;
        }
        v->p = p;
        v->cap = cap;
    }
    if (len) memcpy(v->p + v->n, src, len);
    v->n += len;
    return 0;
}

static int put_i64(Vec *v, int64_t x) { return put(v, &x, sizeof x); }
static int put_u32(Vec *v, uint32_t x) { return put(v, &x, sizeof x); }
static int put_i32(Vec *v, int32_t x) { return put(v, &x, sizeof x); }

/* A text column: data and int32 end offsets (Arrow's, with the leading 0). */
typedef struct {
    Vec data, offsets;
} Text;

static int text_end(Text *t) {
    if (t->data.n > INT32_MAX) return fail("a column grew past 2 GiB");
    return put_i32(&t->offsets, (int32_t)t->data.n);
}

static int text_add(Text *t, const char *p, size_t n) { return put(&t->data, p, n) || text_end(t); }
static int text_addz(Text *t, const char *s) { return text_add(t, s, strlen(s)); }
static int init_text(Text *t) { return put_i32(&t->offsets, 0); }

/* A Map(String, String) column. */
typedef struct {
    Vec offsets;
    Text keys, values;
    int32_t count;
} Map;

static int map_end(Map *m) { return put_i32(&m->offsets, m->count); }

static int map_add(Map *m, const char *k, size_t kn, const char *v, size_t vn) {
    m->count++;
    return text_add(&m->keys, k, kn) || text_add(&m->values, v, vn);
}

/* ---------------------------------------------------------------- text */
static int utf8_valid(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t min;
        if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
        else return 0;
        if (i + len > n) return 0;
        uint32_t cp = c & (0xff >> (len + 1));
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

static int checked(Buf s) { return utf8_valid(s.p, s.end - s.p) ? 0 : fail("text that is not UTF-8"); }

static size_t code_points(const char *p, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++) count += ((uint8_t)p[i] & 0xc0) != 0x80;
    return count;
}

static int is_ascii(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)p[i] >= 0x80) return 0;
    return 1;
}

/* semconv.truncate: cut to `limit` UTF-8 bytes (never inside a character) and marked, unless it is short. */
static int needs_cut(const char *p, size_t n, size_t limit) {
    if (n <= limit) return 0;
    return code_points(p, n) > limit / 4;
}

/* Appends the text (cut if it must be) to `out` without ending the value; sets *cut. */
static int put_text(Vec *out, const char *p, size_t n, size_t limit, int *cut) {
    *cut = needs_cut(p, n, limit);
    if (!*cut) return put(out, p, n);
    size_t keep = limit;
    while (keep > 0 && ((uint8_t)p[keep] & 0xc0) == 0x80) keep--;
    char marker[96];
    int m = snprintf(marker, sizeof marker, "\xe2\x80\xa6[truncated by neon: %zu characters]", code_points(p, n));
    return put(out, p, keep) || put(out, marker, (size_t)m);
}

/* ---------------------------------------------------------------- attributes */
enum { V_NONE, V_STR, V_INT, V_DOUBLE, V_BOOL, V_OTHER };

typedef struct {
    const char *key;
    size_t key_len;
    int type;
    const char *s;  /* the value as text: into the body for strings, else into num */
    size_t n;
    int64_t i;
    double d;
    char num[40];
    const KeyInfo *info;
    int payload;  /* 1 payload, 2 a flattened message (left to Python) */
} Attr;

/* An AnyValue: the last scalar given wins, as in protobuf; anything else is V_OTHER (left to Python). */
static int any_value(Buf b, Attr *a) {
    a->type = V_NONE;
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        Buf s;
        uint64_t v;
        if (tag(&b, &field, &wire)) return -1;
        if (field >= 1 && field <= 7) {
            static const int wires[] = {0, 2, 0, 0, 1, 2, 2, 2};
            if (wire != wires[field]) return fail("unexpected wire type");
        }
        switch (field) {
        case 1:
            if (sub(&b, &s) || checked(s)) return -1;
            if (a->type != V_OTHER) a->type = V_STR, a->s = (const char *)s.p, a->n = s.end - s.p;
            break;
        case 2:
            if (varint(&b, &v)) return -1;
            if (a->type != V_OTHER) a->type = V_BOOL, a->i = v != 0;
            break;
        case 3:
            if (varint(&b, &v)) return -1;
            if (a->type != V_OTHER) a->type = V_INT, a->i = (int64_t)v;
            break;
        case 4:
            if (fixed64(&b, &v)) return -1;
            if (a->type != V_OTHER) a->type = V_DOUBLE, memcpy(&a->d, &v, sizeof a->d);
            break;
        case 5:
        case 6:
        case 7:
            if (sub(&b, &s)) return -1;
            a->type = V_OTHER;
            break;
        default:
            if (skip(&b, wire)) return -1;
        }
    }
    switch (a->type) {
    case V_INT:
        a->n = (size_t)snprintf(a->num, sizeof a->num, "%lld", (long long)a->i);
        a->s = a->num;
        break;
    case V_BOOL:
        a->s = a->i ? "true" : "false";
        a->n = strlen(a->s);
        break;
    case V_DOUBLE: {
        char *repr = PyOS_double_to_string(a->d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (!repr) return -1;
        a->n = strlen(repr);
        memcpy(a->num, repr, a->n < sizeof a->num ? a->n : sizeof a->num);
        PyMem_Free(repr);
        if (a->n >= sizeof a->num) a->type = V_OTHER;
        a->s = a->num;
        break;
    }
    }
    return 0;
}

static void classify(Attr *a) {
    a->info = key_info(a->key, a->key_len);
    a->payload = a->info && a->info->payload;
    if (a->payload) return;
    for (size_t k = 0; k < N_PREFIXES; k++) {
        size_t len = PAYLOAD_PREFIXES[k].len;
        if (a->key_len >= len && !memcmp(a->key, PAYLOAD_PREFIXES[k].prefix, len)) {
            a->payload = PAYLOAD_PREFIXES[k].message ? 2 : 1;
            return;
        }
    }
}

/* A KeyValue into *a; a value given twice is refused, as by the walker. */
static int key_value(Buf b, Attr *a) {
    int value_seen = 0;
    a->key = "";
    a->key_len = 0;
    a->type = V_NONE;
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        Buf s;
        if (tag(&b, &field, &wire)) return -1;
        if (field == 1) {
            if (wire != 2) return fail("unexpected wire type");
            if (sub(&b, &s) || checked(s)) return -1;
            a->key = (const char *)s.p;
            a->key_len = s.end - s.p;
        } else if (field == 2) {
            if (wire != 2) return fail("unexpected wire type");
            if (value_seen++) return fail("a KeyValue's value given twice");
            if (sub(&b, &s) || any_value(s, a)) return -1;
        } else if (skip(&b, wire)) {
            return -1;
        }
    }
    classify(a);
    return 0;
}

typedef struct {
    Attr *items;
    size_t n, cap;
} Attrs;

static Attr *next_attr(Attrs *as) {
    if (as->n == as->cap) {
        size_t cap = as->cap ? as->cap * 2 : 32;
        Attr *items = PyMem_Realloc(as->items, cap * sizeof(Attr));
        if (!items) {
            PyErr_NoMemory();
            return NULL;
        }
        as->items = items;
        as->cap = cap;
    }
    return &as->items[as->n++];
}

/* Fixes the text pointers of number values after the array moved (they point into their own Attr). */
static void fix_numbers(Attrs *as) {
    for (size_t i = 0; i < as->n; i++)
        if (as->items[i].type == V_INT || as->items[i].type == V_DOUBLE) as->items[i].s = as->items[i].num;
}

/* The attribute chosen for each key of FIELDS (the last of that key), as indexes into an Attrs; -1 if absent. */
typedef struct {
    int at[N_FIELDS][MAX_FIELD_KEYS];
} Slots;

static void fill_slots(Slots *slots, const Attrs *as) {
    memset(slots, 0xff, sizeof *slots);
    for (size_t i = 0; i < as->n; i++) {
        const KeyInfo *info = as->items[i].info;
        if (!info) continue;
        for (int k = 0; FIELDS[info->field].keys[k]; k++)
            if (FIELDS[info->field].keys[k] == info->key) slots->at[info->field][k] = (int)i;
    }
}

/* semconv._first: the first key of the field holding a value other than None and "". */
static const Attr *first(const Slots *slots, const Attrs *as, int field) {
    for (int k = 0; FIELDS[field].keys[k]; k++) {
        int i = slots->at[field][k];
        if (i >= 0 && !(as->items[i].type == V_STR && as->items[i].n == 0)) return &as->items[i];
    }
    return NULL;
}

/* ---------------------------------------------------------------- a request's state */

enum { T_TRACE, T_SPAN, T_PARENT, T_NAME, T_TYPE, T_COMPONENT, T_SERVICE, T_SCOPE, T_STATUS, T_MESSAGE, T_MODEL,
       T_PROVIDER, T_TOOL, T_SESSION, T_USER, T_AGENT, T_AGENT_VERSION, T_ENVIRONMENT, T_EVENTS, T_PROJECT,
       T_REQUEST, N_TEXT };
static const char *TEXT_NAMES[] = {"trace_id", "span_id", "parent_span_id", "name", "span_type", "component_type",
                                   "service", "scope", "status", "status_message", "model", "provider", "tool_name",
                                   "session_id", "user_id", "agent_id", "agent_version", "environment", "events",
                                   "project_id", "ingest_request"};
typedef struct {
    Text text[N_TEXT];
    Vec start, end, duration, tokens[4], truncated, cost, cost_valid;
    Map attributes, resource_attributes;
    size_t count;
} SpanCols;

static const char *TOKEN_NAMES[] = {"input_tokens", "output_tokens", "cached_input_tokens", "total_tokens"};

typedef struct {
    Text project_id, trace_id, span_id, input, output;
    Vec start;
    Map attributes;
    size_t count;
} PayloadCols;

/* Duplicate spans in a request: (trace id, span id) in an open-addressing set. */
typedef struct {
    uint8_t (*keys)[24];
    size_t n, cap;
} Seen;

static uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* 1 if the key was new (and is now in), 0 if seen before, -1 on failure. */
static int seen_add(Seen *seen, const uint8_t key[24]) {
    if (2 * (seen->n + 1) > seen->cap) {
        size_t cap = seen->cap ? seen->cap * 2 : 1024;
        uint8_t(*keys)[24] = PyMem_Calloc(cap, 24);
        if (!keys) {
            PyErr_NoMemory();
            return -1;
        }
        static const uint8_t empty[24];
        for (size_t i = 0; i < seen->cap; i++) {
            if (!memcmp(seen->keys[i], empty, 24)) continue;
            uint64_t w[3];
            memcpy(w, seen->keys[i], 24);
            size_t at = mix(w[0] ^ w[1] ^ w[2]) & (cap - 1);
            while (memcmp(keys[at], empty, 24)) at = (at + 1) & (cap - 1);
            memcpy(keys[at], seen->keys[i], 24);
        }
        PyMem_Free(seen->keys);
        seen->keys = keys;
        seen->cap = cap;
    }
    static const uint8_t empty[24];
    uint64_t w[3];
    memcpy(w, key, 24);
    size_t at = mix(w[0] ^ w[1] ^ w[2]) & (seen->cap - 1);
    while (memcmp(seen->keys[at], empty, 24)) {  /* a valid key is never all zero: its span id is not */
        if (!memcmp(seen->keys[at], key, 24)) return 0;
        at = (at + 1) & (seen->cap - 1);
    }
    memcpy(seen->keys[at], key, 24);
    seen->n++;
    return 1;
}

/* A resource's share of its spans (ResourceInfo). */
typedef struct {
    Buf whole;         /* the ResourceSpans, to walk its attributes for Python if needed */
    PyObject *pairs;   /* those, walked (made once, when a span is left to Python) */
    Attrs attrs;
    Slots slots;
    Text keys, values; /* stored as resource_attributes: values cut to the attribute limit */
    const char *service;
    size_t service_len;
    const Attr *defaults[N_RESOURCE_FIELDS];
    int python;        /* a value or a tag the mapper leaves to Python: all its spans go there */
} Resource;

typedef struct {
    size_t max_attribute, max_payload;
    uint64_t now_ns;
    SpanCols s;
    PayloadCols p;
    Seen seen;
    Attrs attrs;
    Vec truncated_keys;
    Vec payload_at;  /* a span's payload attributes to store: size_t (index << 1 | cut) each */
    Buf project, request;  /* the request being mapped */
    long rejected;
    PyObject *reasons;
    PyObject *rest;
} Ctx;

static int reject(Ctx *c, const char *reason) {
    c->rejected++;
    if (PyList_GET_SIZE(c->reasons) >= 5) return 0;
    PyObject *r = PyUnicode_FromString(reason);
    if (!r) return -1;
    int found = PySequence_Contains(c->reasons, r);
    int rc = found < 0 ? -1 : found ? 0 : PyList_Append(c->reasons, r);
    Py_DECREF(r);
    return rc;
}

static int hex_add(Text *t, Buf id) {
    static const char digits[] = "0123456789abcdef";
    char out[64];
    size_t n = id.end - id.p;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[id.p[i] >> 4];
        out[2 * i + 1] = digits[id.p[i] & 15];
    }
    return text_add(t, out, 2 * n);
}

static int all_zero(Buf id) {
    for (const uint8_t *p = id.p; p < id.end; p++)
        if (*p) return 0;
    return 1;
}

/* ---------------------------------------------------------------- resources */
static int resource_read(Resource *r, Buf b, Ctx *c) {
    memset(r, 0, sizeof *r);
    r->whole = b;
    r->service = "";
    if (init_text(&r->keys) || init_text(&r->values)) return -1;
    Buf s, kv;
    int found, more;
    while ((found = next_field(&b, 1, &s)) > 0) {       /* the Resource (given twice, it merges) */
        while ((more = next_field(&s, 1, &kv)) > 0) {  /* its attributes */
            Attr *a = next_attr(&r->attrs);
            if (!a || key_value(kv, a)) return -1;
            if (a->type == V_NONE || a->type == V_OTHER || (a->info && a->info->field == F_TAGS)) r->python = 1;
        }
        if (more < 0) return -1;
    }
    if (found < 0) return -1;
    fix_numbers(&r->attrs);
    if (r->python) return 0;
    for (size_t i = 0; i < r->attrs.n; i++) {
        Attr *a = &r->attrs.items[i];
        int cut;
        if (a->key_len == 12 && !memcmp(a->key, "service.name", 12)) r->service = a->s, r->service_len = a->n;
        if (text_add(&r->keys, a->key, a->key_len) || put_text(&r->values.data, a->s, a->n, c->max_attribute, &cut)
            || text_end(&r->values))
            return -1;
    }
    fill_slots(&r->slots, &r->attrs);
    for (int f = 0; f < N_RESOURCE_FIELDS; f++) r->defaults[f] = first(&r->slots, &r->attrs, RESOURCE_FIELDS[f]);
    return 0;
}

static void resource_free(Resource *r) {
    PyMem_Free(r->attrs.items);
    PyMem_Free(r->keys.data.p);
    PyMem_Free(r->keys.offsets.p);
    PyMem_Free(r->values.data.p);
    PyMem_Free(r->values.offsets.p);
    Py_XDECREF(r->pairs);
}

/* ---------------------------------------------------------------- spans */
typedef struct {
    Buf trace_id, span_id, parent, name, message;
    int64_t kind, code;
    uint64_t start, end;
    int extra;
} SpanHead;

static int span_head(Buf b, SpanHead *h) {
    memset(h, 0, sizeof *h);
    h->name.p = h->name.end = h->message.p = h->message.end = (const uint8_t *)"";
    h->trace_id = h->span_id = h->parent = h->name;
    while (b.p < b.end) {
        uint32_t field;
        int wire;
        Buf s;
        uint64_t v;
        if (tag(&b, &field, &wire)) return -1;
        switch (field) {
        case 1: if (wire != 2 || sub(&b, &h->trace_id)) goto bad; break;
        case 2: if (wire != 2 || sub(&b, &h->span_id)) goto bad; break;
        case 4: if (wire != 2 || sub(&b, &h->parent)) goto bad; break;
        case 5: if (wire != 2 || sub(&b, &h->name) || checked(h->name)) goto bad; break;
        case 6: if (wire != 0 || varint(&b, &v)) goto bad; h->kind = (int32_t)v; break;
        case 7: if (wire != 1 || fixed64(&b, &h->start)) goto bad; break;
        case 8: if (wire != 1 || fixed64(&b, &h->end)) goto bad; break;
        case 9: if (wire != 2 || sub(&b, &s)) goto bad; break;
        case 11:
        case 13: if (wire != 2 || sub(&b, &s)) goto bad; h->extra = 1; break;
        case 15:  /* Status: given twice, the fields present overwrite */
            if (wire != 2 || sub(&b, &s)) goto bad;
            while (s.p < s.end) {
                Buf m;
                if (tag(&s, &field, &wire)) return -1;
                if (field == 2) {
                    if (wire != 2 || sub(&s, &m) || checked(m)) goto bad;
                    h->message = m;
                } else if (field == 3) {
                    if (wire != 0 || varint(&s, &v)) goto bad;
                    h->code = (int32_t)v;
                } else if (skip(&s, wire)) {
                    return -1;
                }
            }
            break;
        default:
            if (skip(&b, wire)) return -1;
        }
    }
    return 0;
bad:
    if (!PyErr_Occurred()) fail("unexpected wire type");
    return -1;
}

/* decode_protobuf's checks, with its reasons; 1 if the span goes on. */
static int span_checks(Ctx *c, const SpanHead *h) {
    size_t tn = h->trace_id.end - h->trace_id.p, sn = h->span_id.end - h->span_id.p;
    size_t pn = h->parent.end - h->parent.p;
    if (tn != 16 || all_zero(h->trace_id)) return reject(c, "invalid trace_id (must be 16 bytes, not all zero)");
    if (sn != 8 || all_zero(h->span_id)) return reject(c, "invalid span_id (must be 8 bytes, not all zero)");
    if (pn && pn != 8) return reject(c, "invalid parent_span_id (must be empty or 8 bytes)");
    const uint64_t max = (uint64_t)INT64_MAX;
    if (h->start == 0) return reject(c, "start time missing");
    if (h->start > max || h->end > max) return reject(c, "timestamp out of range");
    if (h->end && h->end < h->start) return reject(c, "end time before start time");
    if (h->start > c->now_ns + 24ull * 3600 * 1000000000ull)
        return reject(c, "start time more than a day in the future");
    uint8_t key[24];
    memcpy(key, h->trace_id.p, 16);
    memcpy(key + 16, h->span_id.p, 8);
    int added = seen_add(&c->seen, key);
    if (added <= 0) return added < 0 ? -1 : reject(c, "duplicate span in the same request");
    return 1;
}

static int lower_add(Text *t, const Attr *a) {
    if (!a) return text_end(t);
    size_t at = t->data.n;
    if (put(&t->data, a->s, a->n)) return -1;
    for (size_t i = at; i < t->data.n; i++)
        if (t->data.p[i] >= 'A' && t->data.p[i] <= 'Z') t->data.p[i] += 'a' - 'A';
    return text_end(t);
}

static int value_or_default(Text *t, const Attr *a, const Attr *fallback) {
    const Attr *use = a ? a : fallback;
    return use ? text_add(t, use->s, use->n) : text_end(t);
}

/* semconv._int, clamped to uint32 (clamp_uint32); *none when it gives None. */
static uint32_t tokens(const Attr *a, int *none) {
    *none = 0;
    if (a && a->type == V_INT) return a->i < 0 ? 0 : a->i > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)a->i;
    if (a && a->type == V_DOUBLE && isfinite(a->d)) {
        double t = trunc(a->d);
        return t < 0 ? 0 : t > (double)UINT32_MAX ? UINT32_MAX : (uint32_t)t;
    }
    *none = 1;
    return 0;
}

/* Whether semconv looks at the value's length at all: more characters than `limit` (a quarter of the attribute
   limit: shorter text cannot exceed any byte limit). */
static int longer_than(const Attr *a, size_t limit) { return a->n > limit && code_points(a->s, a->n) > limit; }

static int same_key(const Attr *a, const Attr *b) {
    return b && a->key_len == b->key_len && !memcmp(a->key, b->key, a->key_len);
}

/* Whether the mapper leaves this span to Python (see the top of the file). */
static int for_python(const Attrs *as, const Slots *slots) {
    for (size_t i = 0; i < as->n; i++) {
        const Attr *a = &as->items[i];
        if (a->type == V_NONE || a->type == V_OTHER || a->payload == 2) return 1;
        if (a->info && a->info->field == F_TAGS) return 1;
    }
    static const int numeric[] = {F_INPUT_TOKENS, F_OUTPUT_TOKENS, F_TOTAL_TOKENS, F_CACHED_TOKENS, F_COST};
    for (size_t k = 0; k < sizeof numeric / sizeof numeric[0]; k++) {
        const Attr *a = first(slots, as, numeric[k]);
        if (a && a->type == V_STR) return 1;  /* numbers given as text: Python's int() and float() read them */
    }
    static const int cased[] = {F_SPAN_TYPE, F_OI_KIND, F_COMPONENT, F_PROVIDER};
    for (size_t k = 0; k < sizeof cased / sizeof cased[0]; k++) {
        const Attr *a = first(slots, as, cased[k]);
        if (a && !is_ascii(a->s, a->n)) return 1;  /* str.lower() and upper() beyond ASCII */
    }
    return 0;
}

static const char *span_type(const Slots *slots, const Attrs *as) {
    const Attr *a = first(slots, as, F_SPAN_TYPE);
    if (a) {
        for (int i = 0; SPAN_TYPES[i]; i++) {
            size_t n = strlen(SPAN_TYPES[i]);
            if (a->n != n) continue;
            size_t k = 0;
            while (k < n && (a->s[k] | (a->s[k] >= 'A' && a->s[k] <= 'Z' ? 0x20 : 0)) == SPAN_TYPES[i][k]) k++;
            if (k == n) return SPAN_TYPES[i];
        }
    }
    const Attr *oi = first(slots, as, F_OI_KIND);
    if (oi && oi->type == V_STR) {
        for (int i = 0; OPENINFERENCE_KINDS[i][0]; i++) {
            size_t n = strlen(OPENINFERENCE_KINDS[i][0]);
            if (oi->n != n) continue;
            size_t k = 0;
            const char *kind = OPENINFERENCE_KINDS[i][0];
            while (k < n && (oi->s[k] & ~(oi->s[k] >= 'a' && oi->s[k] <= 'z' ? 0x20 : 0)) == kind[k]) k++;
            if (k == n) return OPENINFERENCE_KINDS[i][1];
        }
    }
    const Attr *op = first(slots, as, F_OPERATION);
    if (op && op->type == V_STR) {
        for (int i = 0; GENAI_OPERATIONS[i][0]; i++)
            if (op->n == strlen(GENAI_OPERATIONS[i][0]) && !memcmp(op->s, GENAI_OPERATIONS[i][0], op->n))
                return GENAI_OPERATIONS[i][1];
    }
    if (first(slots, as, F_TOOL)) return "tool";
    if (first(slots, as, F_MODEL) && first(slots, as, F_INPUT_TOKENS)) return "generation";
    return "span";
}

static int truncated_key(Ctx *c, const char *key, size_t n) {
    return (c->truncated_keys.n && put(&c->truncated_keys, ",", 1)) || put(&c->truncated_keys, key, n);
}

/* Maps one span (checked, not left to Python) onto the columns: append_span. */
static int span_map(Ctx *c, const SpanHead *h, Resource *r, Buf scope, const Slots *slots) {
    SpanCols *s = &c->s;
    Attrs *as = &c->attrs;
    size_t short_limit = c->max_attribute / 4;
    c->truncated_keys.n = 0;
    c->payload_at.n = 0;
    const Attr *in = first(slots, as, F_INPUT), *out = first(slots, as, F_OUTPUT);

    /* stored attributes in order, then the sources of input and output, then what was cut */
    for (size_t i = 0; i < as->n; i++) {
        Attr *a = &as->items[i];
        int cut = 0;
        if (a->payload) {
            if (longer_than(a, short_limit)) cut = needs_cut(a->s, a->n, c->max_payload);
            if (cut && truncated_key(c, a->key, a->key_len)) return -1;
            if (same_key(a, in) || same_key(a, out)) continue;
            size_t entry = i << 1 | (size_t)cut;  /* cut: as this loop decided */
            if (put(&c->payload_at, &entry, sizeof entry)) return -1;
            continue;
        }
        s->attributes.count++;
        if (text_add(&s->attributes.keys, a->key, a->key_len)) return -1;
        if (longer_than(a, short_limit)) {
            if (put_text(&s->attributes.values.data, a->s, a->n, c->max_attribute, &cut)) return -1;
        } else if (put(&s->attributes.values.data, a->s, a->n)) {
            return -1;
        }
        if (text_end(&s->attributes.values) || (cut && truncated_key(c, a->key, a->key_len))) return -1;
    }
    if (in && map_add(&s->attributes, "neon.input_source", 17, in->key, in->key_len)) return -1;
    if (out && map_add(&s->attributes, "neon.output_source", 18, out->key, out->key_len)) return -1;

    /* input and output, cut to the payload limit */
    PayloadCols *p = &c->p;
    size_t input_at = p->input.data.n, output_at = p->output.data.n;
    int cut_in = 0, cut_out = 0;
    if (in && put_text(&p->input.data, in->s, in->n, c->max_payload, &cut_in)) return -1;
    if (out && put_text(&p->output.data, out->s, out->n, c->max_payload, &cut_out)) return -1;
    if ((cut_in && truncated_key(c, "neon.input", 10)) || (cut_out && truncated_key(c, "neon.output", 11))) return -1;
    if (c->truncated_keys.n &&
        map_add(&s->attributes, "neon.truncated_keys", 19, c->truncated_keys.p, c->truncated_keys.n))
        return -1;
    if (map_end(&s->attributes)) return -1;

    size_t payloads = c->payload_at.n / sizeof(size_t);
    if (p->input.data.n > input_at || p->output.data.n > output_at || payloads) {
        if (text_add(&p->project_id, (const char *)c->project.p, c->project.end - c->project.p) ||
            hex_add(&p->trace_id, h->trace_id) || hex_add(&p->span_id, h->span_id) ||
            put_i64(&p->start, (int64_t)h->start) || text_end(&p->input) || text_end(&p->output))
            return -1;
        for (size_t k = 0; k < payloads; k++) {
            size_t entry;
            memcpy(&entry, c->payload_at.p + k * sizeof entry, sizeof entry);
            const Attr *a = &as->items[entry >> 1];
            int cut;
            p->attributes.count++;
            if (text_add(&p->attributes.keys, a->key, a->key_len) ||
                (entry & 1 ? put_text(&p->attributes.values.data, a->s, a->n, c->max_payload, &cut)
                                      : put(&p->attributes.values.data, a->s, a->n)) ||
                text_end(&p->attributes.values))
                return -1;
        }
        if (map_end(&p->attributes)) return -1;
        p->count++;
    }

    /* the span's row */
    const char *status = h->code >= 0 && h->code <= 2 ? STATUS[h->code] : "unset";
    const Attr *error = first(slots, as, F_ERROR);
    if (!strcmp(status, "unset") && error) status = "error";
    Buf message = h->message;
    int empty_message = message.end == message.p;
    int tokens_none;
    uint32_t input_tokens = tokens(first(slots, as, F_INPUT_TOKENS), &tokens_none);
    uint32_t output_tokens = tokens(first(slots, as, F_OUTPUT_TOKENS), &tokens_none);
    uint32_t cached = tokens(first(slots, as, F_CACHED_TOKENS), &tokens_none);
    uint32_t total = tokens(first(slots, as, F_TOTAL_TOKENS), &tokens_none);
    if (tokens_none) {
        uint64_t sum = (uint64_t)input_tokens + output_tokens;
        total = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
    }
    const Attr *cost = first(slots, as, F_COST);
    double cost_value = cost && cost->type == V_INT ? (double)cost->i : cost && cost->type == V_DOUBLE ? cost->d : -1;
    int has_cost = cost && cost->type != V_BOOL && cost_value >= 0;
    const Attr *model = first(slots, as, F_MODEL), *tool = first(slots, as, F_TOOL);

    Buf parent = h->parent;
    int root = all_zero(parent);
    if (hex_add(&s->text[T_TRACE], h->trace_id) || hex_add(&s->text[T_SPAN], h->span_id) ||
        (root ? text_end(&s->text[T_PARENT]) : hex_add(&s->text[T_PARENT], parent)) ||
        text_add(&s->text[T_NAME], (const char *)h->name.p, h->name.end - h->name.p) ||
        text_addz(&s->text[T_TYPE], span_type(slots, as)) ||
        lower_add(&s->text[T_COMPONENT], first(slots, as, F_COMPONENT)) ||
        text_add(&s->text[T_SERVICE], r->service, r->service_len) ||
        text_add(&s->text[T_SCOPE], (const char *)scope.p, scope.end - scope.p) ||
        text_addz(&s->text[T_STATUS], status) ||
        (!empty_message ? text_add(&s->text[T_MESSAGE], (const char *)message.p, message.end - message.p)
         : !strcmp(status, "error") && error ? text_add(&s->text[T_MESSAGE], error->s, error->n)
         : text_end(&s->text[T_MESSAGE])) ||
        (model ? text_add(&s->text[T_MODEL], model->s, model->n) : text_end(&s->text[T_MODEL])) ||
        lower_add(&s->text[T_PROVIDER], first(slots, as, F_PROVIDER)) ||
        (tool ? text_add(&s->text[T_TOOL], tool->s, tool->n) : text_end(&s->text[T_TOOL])) ||
        value_or_default(&s->text[T_SESSION], first(slots, as, F_SESSION), r->defaults[1]) ||
        value_or_default(&s->text[T_USER], first(slots, as, F_USER), r->defaults[2]) ||
        value_or_default(&s->text[T_AGENT], first(slots, as, F_AGENT), r->defaults[3]) ||
        value_or_default(&s->text[T_AGENT_VERSION], first(slots, as, F_AGENT_VERSION), r->defaults[4]) ||
        value_or_default(&s->text[T_ENVIRONMENT], first(slots, as, F_ENVIRONMENT), r->defaults[0]) ||
        text_end(&s->text[T_EVENTS]) ||
        text_add(&s->text[T_PROJECT], (const char *)c->project.p, c->project.end - c->project.p) ||
        text_add(&s->text[T_REQUEST], (const char *)c->request.p, c->request.end - c->request.p))
        return -1;
    uint64_t end = h->end ? h->end : h->start;
    uint8_t truncated = c->truncated_keys.n > 0;
    uint8_t valid_bit = (uint8_t)(has_cost << (s->count % 8));
    if (s->count % 8 == 0 ? put(&s->cost_valid, &valid_bit, 1) : (s->cost_valid.p[s->cost_valid.n - 1] |= valid_bit, 0))
        return -1;
    double stored_cost = has_cost ? cost_value : 0;
    if (put_i64(&s->start, (int64_t)h->start) || put_i64(&s->end, (int64_t)end) ||
        put_i64(&s->duration, end > h->start ? (int64_t)(end - h->start) : 0) ||
        put_u32(&s->tokens[0], input_tokens) || put_u32(&s->tokens[1], output_tokens) ||
        put_u32(&s->tokens[2], cached) || put_u32(&s->tokens[3], total) ||
        put(&s->cost, &stored_cost, sizeof stored_cost) || put(&s->truncated, &truncated, 1))
        return -1;
    Map *ra = &s->resource_attributes;
    for (size_t i = 0; i + 1 < r->keys.offsets.n / 4; i++) {
        int32_t k0, k1, v0, v1;
        memcpy(&k0, r->keys.offsets.p + 4 * i, 4);
        memcpy(&k1, r->keys.offsets.p + 4 * i + 4, 4);
        memcpy(&v0, r->values.offsets.p + 4 * i, 4);
        memcpy(&v1, r->values.offsets.p + 4 * i + 4, 4);
        if (map_add(ra, r->keys.data.p + k0, k1 - k0, r->values.data.p + v0, v1 - v0)) return -1;
    }
    if (map_end(ra)) return -1;
    s->count++;
    return 0;
}

/* The span's attributes into c->attrs (with span.kind last, as decode_protobuf appends it). */
static int span_attributes(Ctx *c, Buf b, int64_t kind) {
    c->attrs.n = 0;
    Buf s;
    int found;
    while ((found = next_field(&b, 9, &s)) > 0) {
        Attr *a = next_attr(&c->attrs);
        if (!a || key_value(s, a)) return -1;
    }
    if (found < 0) return -1;
    if (kind >= 2 && kind <= 5) {
        Attr *a = next_attr(&c->attrs);
        if (!a) return -1;
        memset(a, 0, sizeof *a);
        a->key = "span.kind";
        a->key_len = 9;
        a->type = V_STR;
        a->s = SPAN_KINDS[kind];
        a->n = strlen(a->s);
    }
    fix_numbers(&c->attrs);
    return 0;
}

static int leave_to_python(Ctx *c, Resource *r, Buf scope, Buf span) {
    if (!r->pairs) {
        r->pairs = PyList_New(0);
        if (!r->pairs || neon_walk_resource_pairs(r->whole, r->pairs)) return -1;
    }
    PyObject *walked = neon_walk_span(span);
    if (!walked) return -1;
    PyObject *item = Py_BuildValue("(Os#N)", r->pairs, (const char *)scope.p, (Py_ssize_t)(scope.end - scope.p),
                                   walked);
    if (!item) return -1;
    int rc = PyList_Append(c->rest, item);
    Py_DECREF(item);
    return rc;
}

static int scope_spans(Ctx *c, Resource *r, Buf b) {
    Buf name = {(const uint8_t *)"", (const uint8_t *)""};
    Buf pass = b, s, n;
    int found, more;
    while ((found = next_field(&pass, 1, &s)) > 0) {  /* the scope's name first: it may follow the spans */
        while ((more = next_field(&s, 1, &n)) > 0) {
            if (checked(n)) return -1;
            name = n;
        }
        if (more < 0) return -1;
    }
    if (found < 0) return -1;
    while ((found = next_field(&b, 2, &s)) > 0) {
        SpanHead h;
        if (span_head(s, &h)) return -1;
        int go = span_checks(c, &h);
        if (go <= 0) {
            if (go < 0) return -1;
            continue;
        }
        if (span_attributes(c, s, h.kind)) return -1;
        Slots slots;
        fill_slots(&slots, &c->attrs);
        if (r->python || h.extra || for_python(&c->attrs, &slots)) {
            if (leave_to_python(c, r, name, s)) return -1;
        } else if (span_map(c, &h, r, name, &slots)) {
            return -1;
        }
    }
    return found < 0 ? -1 : 0;
}

static int resource_spans(Ctx *c, Buf b) {
    Resource r;
    Buf s;
    int rc = resource_read(&r, b, c), found = 0;
    while (!rc && (found = next_field(&b, 2, &s)) > 0) rc = scope_spans(c, &r, s);
    resource_free(&r);
    if (found < 0) rc = -1;
    return rc;
}

/* ---------------------------------------------------------------- results */
static PyObject *bytes_of(const Vec *v) { return PyBytes_FromStringAndSize(v->p ? v->p : "", (Py_ssize_t)v->n); }

static PyObject *text_obj(const Text *t) { return Py_BuildValue("(NN)", bytes_of(&t->offsets), bytes_of(&t->data)); }

static PyObject *map_obj(const Map *m) {
    return Py_BuildValue("(NNN)", bytes_of(&m->offsets), text_obj(&m->keys), text_obj(&m->values));
}

static int set(PyObject *dict, const char *name, PyObject *value) {
    if (!value) return -1;
    int rc = PyDict_SetItemString(dict, name, value);
    Py_DECREF(value);
    return rc;
}

static PyObject *span_dict(const SpanCols *s) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    int rc = 0;
    for (int i = 0; i < N_TEXT && !rc; i++) rc = set(d, TEXT_NAMES[i], text_obj(&s->text[i]));
    for (int i = 0; i < 4 && !rc; i++) rc = set(d, TOKEN_NAMES[i], bytes_of(&s->tokens[i]));
    if (rc || set(d, "start_time", bytes_of(&s->start)) || set(d, "end_time", bytes_of(&s->end)) ||
        set(d, "duration_ns", bytes_of(&s->duration)) || set(d, "truncated", bytes_of(&s->truncated)) ||
        set(d, "cost", Py_BuildValue("(NN)", bytes_of(&s->cost_valid), bytes_of(&s->cost))) ||
        set(d, "attributes", map_obj(&s->attributes)) ||
        set(d, "resource_attributes", map_obj(&s->resource_attributes))) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *payload_dict(const PayloadCols *p) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    if (set(d, "project_id", text_obj(&p->project_id)) || set(d, "trace_id", text_obj(&p->trace_id)) || set(d, "span_id", text_obj(&p->span_id)) ||
        set(d, "start_time", bytes_of(&p->start)) || set(d, "input", text_obj(&p->input)) ||
        set(d, "output", text_obj(&p->output)) || set(d, "attributes", map_obj(&p->attributes))) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static void free_vec(Vec *v) { PyMem_Free(v->p); }

static int init_map(Map *m) { return put_i32(&m->offsets, 0) || init_text(&m->keys) || init_text(&m->values); }

/* Every buffer the columns are in, to mark and roll back a request left to Python whole. */
static size_t buffers(Ctx *c, Vec **out) {
    size_t n = 0;
    for (int i = 0; i < N_TEXT; i++) out[n++] = &c->s.text[i].data, out[n++] = &c->s.text[i].offsets;
    Vec *more[] = {&c->s.start, &c->s.end, &c->s.duration, &c->s.tokens[0], &c->s.tokens[1], &c->s.tokens[2],
                   &c->s.tokens[3], &c->s.truncated, &c->s.cost, &c->s.cost_valid, &c->p.start};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) out[n++] = more[i];
    Map *maps[] = {&c->s.attributes, &c->s.resource_attributes, &c->p.attributes};
    for (size_t i = 0; i < 3; i++) {
        out[n++] = &maps[i]->offsets;
        out[n++] = &maps[i]->keys.data, out[n++] = &maps[i]->keys.offsets;
        out[n++] = &maps[i]->values.data, out[n++] = &maps[i]->values.offsets;
    }
    Text *texts[] = {&c->p.project_id, &c->p.trace_id, &c->p.span_id, &c->p.input, &c->p.output};
    for (size_t i = 0; i < 5; i++) out[n++] = &texts[i]->data, out[n++] = &texts[i]->offsets;
    return n;
}
#define MAX_BUFFERS (2 * N_TEXT + 11 + 15 + 10)

typedef struct {
    size_t len[MAX_BUFFERS];
    size_t spans, payloads;
    int32_t counts[3];
} Mark;

static void mark(Ctx *c, Mark *m) {
    Vec *all[MAX_BUFFERS];
    size_t n = buffers(c, all);
    for (size_t i = 0; i < n; i++) m->len[i] = all[i]->n;
    m->spans = c->s.count;
    m->payloads = c->p.count;
    m->counts[0] = c->s.attributes.count;
    m->counts[1] = c->s.resource_attributes.count;
    m->counts[2] = c->p.attributes.count;
}

static void roll_back(Ctx *c, const Mark *m) {
    Vec *all[MAX_BUFFERS];
    size_t n = buffers(c, all);
    for (size_t i = 0; i < n; i++) all[i]->n = m->len[i];
    c->s.count = m->spans;
    c->p.count = m->payloads;
    c->s.attributes.count = m->counts[0];
    c->s.resource_attributes.count = m->counts[1];
    c->p.attributes.count = m->counts[2];
    if (c->s.count % 8) c->s.cost_valid.p[c->s.cost_valid.n - 1] &= (uint8_t)((1u << (c->s.count % 8)) - 1);
}

/* One request: its rows appended to the columns; returns (rejected, reasons, rest), or None when the request is
   left to Python whole (what its reader does not expect: its rows are rolled back). */
static PyObject *map_one(Ctx *c, Buf b) {
    Mark m;
    mark(c, &m);
    c->rejected = 0;
    c->seen.n = 0;
    if (c->seen.keys) memset(c->seen.keys, 0, c->seen.cap * 24);
    c->reasons = PyList_New(0);
    c->rest = PyList_New(0);
    int rc = !c->reasons || !c->rest, found = 0;
    Buf s;
    while (!rc && (found = next_field(&b, 1, &s)) > 0) rc = resource_spans(c, s);
    if (found < 0) rc = -1;
    PyObject *result = NULL;
    if (!rc) {
        result = Py_BuildValue("(lOO)", c->rejected, c->reasons, c->rest);
    } else if (PyErr_ExceptionMatches(PyExc_ValueError)) {  /* MalformedBody, UnicodeDecodeError */
        PyErr_Clear();
        roll_back(c, &m);
        result = Py_NewRef(Py_None);
    }
    Py_CLEAR(c->reasons);
    Py_CLEAR(c->rest);
    return result;
}

static int init_cols(Ctx *c) {
    int rc = 0;
    for (int i = 0; i < N_TEXT && !rc; i++) rc = init_text(&c->s.text[i]);
    return rc || init_map(&c->s.attributes) || init_map(&c->s.resource_attributes) ||
           init_text(&c->p.project_id) || init_text(&c->p.trace_id) || init_text(&c->p.span_id) ||
           init_text(&c->p.input) || init_text(&c->p.output) || init_map(&c->p.attributes);
}

PyObject *neon_map(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *requests;
    Py_ssize_t max_attribute, max_payload;
    unsigned long long now_ns;
    if (!PyArg_ParseTuple(args, "O!nnK", &PyList_Type, &requests, &max_attribute, &max_payload, &now_ns))
        return NULL;
    Ctx c;
    memset(&c, 0, sizeof c);
    c.max_attribute = (size_t)max_attribute;
    c.max_payload = (size_t)max_payload;
    c.now_ns = now_ns;
    PyObject *outcomes = PyList_New(0), *result = NULL;
    int rc = !outcomes || init_cols(&c);
    for (Py_ssize_t i = 0; !rc && i < PyList_GET_SIZE(requests); i++) {
        Py_buffer body;
        const char *project, *request;
        Py_ssize_t project_len, request_len;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(requests, i), "y*s#s#", &body, &project, &project_len, &request,
                              &request_len)) {
            rc = -1;
            break;
        }
        c.project = (Buf){(const uint8_t *)project, (const uint8_t *)project + project_len};
        c.request = (Buf){(const uint8_t *)request, (const uint8_t *)request + request_len};
        Buf b = {(const uint8_t *)body.buf, (const uint8_t *)body.buf + body.len};
        PyObject *outcome = map_one(&c, b);
        PyBuffer_Release(&body);
        rc = !outcome || PyList_Append(outcomes, outcome);
        Py_XDECREF(outcome);
    }
    if (!rc)
        result = Py_BuildValue("(NnNnO)", span_dict(&c.s), (Py_ssize_t)c.s.count, payload_dict(&c.p),
                               (Py_ssize_t)c.p.count, outcomes);
    Vec *all[MAX_BUFFERS];
    size_t n = buffers(&c, all);
    for (size_t i = 0; i < n; i++) free_vec(all[i]);
    PyMem_Free(c.seen.keys);
    PyMem_Free(c.attrs.items);
    free_vec(&c.truncated_keys);
    free_vec(&c.payload_at);
    Py_XDECREF(outcomes);
    return result;
}

/* The tables above as Python values, for the test that holds them equal to semconv.py's. */
PyObject *neon_map_tables(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(arg)) {
    PyObject *fields = PyDict_New(), *prefixes = PyDict_New(), *types = PySet_New(NULL);
    PyObject *oi = PyDict_New(), *ops = PyDict_New(), *kinds = PyDict_New(), *resource = PyList_New(0);
    PyObject *payload = PyList_New(0), *result = NULL;
    if (!fields || !prefixes || !types || !oi || !ops || !kinds || !resource || !payload) goto done;
    for (int f = 0; f < N_FIELDS; f++) {
        PyObject *keys = PyTuple_New(0);
        for (int k = 0; keys && FIELDS[f].keys[k]; k++) {
            PyObject *key = PyUnicode_FromString(FIELDS[f].keys[k]);
            if (!key || _PyTuple_Resize(&keys, k + 1)) { Py_XDECREF(key); Py_CLEAR(keys); break; }
            PyTuple_SET_ITEM(keys, k, key);
        }
        if (set(fields, FIELDS[f].name, keys)) goto done;
    }
    for (size_t k = 0; k < N_PREFIXES; k++)
        if (set(prefixes, PAYLOAD_PREFIXES[k].prefix, PyBool_FromLong(PAYLOAD_PREFIXES[k].message))) goto done;
    for (int i = 0; SPAN_TYPES[i]; i++) {
        PyObject *t = PyUnicode_FromString(SPAN_TYPES[i]);
        if (!t || PySet_Add(types, t)) { Py_XDECREF(t); goto done; }
        Py_DECREF(t);
    }
    for (int i = 0; OPENINFERENCE_KINDS[i][0]; i++)
        if (set(oi, OPENINFERENCE_KINDS[i][0], PyUnicode_FromString(OPENINFERENCE_KINDS[i][1]))) goto done;
    for (int i = 0; GENAI_OPERATIONS[i][0]; i++)
        if (set(ops, GENAI_OPERATIONS[i][0], PyUnicode_FromString(GENAI_OPERATIONS[i][1]))) goto done;
    for (int i = 2; i <= 5; i++) {
        PyObject *key = PyLong_FromLong(i), *value = PyUnicode_FromString(SPAN_KINDS[i]);
        int rc = !key || !value || PyDict_SetItem(kinds, key, value);
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (rc) goto done;
    }
    for (int i = 0; i < N_RESOURCE_FIELDS; i++) {
        PyObject *name = PyUnicode_FromString(FIELDS[RESOURCE_FIELDS[i]].name);
        if (!name || PyList_Append(resource, name)) { Py_XDECREF(name); goto done; }
        Py_DECREF(name);
    }
    for (size_t i = 0; i < sizeof PAYLOAD_FIELDS / sizeof PAYLOAD_FIELDS[0]; i++) {
        PyObject *name = PyUnicode_FromString(FIELDS[PAYLOAD_FIELDS[i]].name);
        if (!name || PyList_Append(payload, name)) { Py_XDECREF(name); goto done; }
        Py_DECREF(name);
    }
    result = Py_BuildValue("{sOsOsOsOsOsOsOsO}", "fields", fields, "payload_prefixes", prefixes, "span_types", types,
                           "openinference_kinds", oi, "genai_operations", ops, "span_kinds", kinds,
                           "resource_fields", resource, "payload_fields", payload);
done:
    Py_XDECREF(fields);
    Py_XDECREF(prefixes);
    Py_XDECREF(types);
    Py_XDECREF(oi);
    Py_XDECREF(ops);
    Py_XDECREF(kinds);
    Py_XDECREF(resource);
    Py_XDECREF(payload);
    return result;
}

void neon_map_init(void) { build_key_table(); }
