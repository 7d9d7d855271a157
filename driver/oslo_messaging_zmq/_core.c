/* The proxy's per-message path in C: casts and calls to one RPC listener, ACKs and REPLYs,
 * and the pings that change nothing (a HELLO, a REGISTER of the targets a listener has).
 *
 * Core.pump() reads the proxy's ROUTER and handles the messages that take the common
 * path exactly as proxy.py would, on proxy.py's own state (the routing table, the
 * answer book, the counters, the bindings).  Any message it does not handle entirely
 * (another type, a header it would have to judge, a peer it does not know yet, a send
 * that would block) goes back to Python unread by anything: pump() returns its frames
 * and proxy.handle() does the rest.  So this file adds no routing rule of its own.
 *
 * libzmq: the functions are looked up in the very library pyzmq loaded (its wheel's own
 * copy or the system's; proxy.py finds its file), so that the ROUTER pyzmq created is
 * used by the same copy of libzmq.  Their ABI has been stable since libzmq 4.0.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    unsigned char _[64];
} __attribute__((aligned(sizeof(void *)))) zmq_msg_t;

#define ZMQ_DONTWAIT 1
#define ZMQ_SNDMORE 2
#define ZMQ_SRCFD 2

static int (*z_msg_init)(zmq_msg_t *);
static int (*z_msg_init_size)(zmq_msg_t *, size_t);
static int (*z_msg_recv)(zmq_msg_t *, void *, int);
static int (*z_msg_send)(zmq_msg_t *, void *, int);
static int (*z_msg_close)(zmq_msg_t *);
static void *(*z_msg_data)(zmq_msg_t *);
static size_t (*z_msg_size)(const zmq_msg_t *);
static int (*z_msg_more)(const zmq_msg_t *);
static int (*z_msg_get)(const zmq_msg_t *, int);
static const char *(*z_msg_gets)(const zmq_msg_t *, const char *);
static int (*z_errno)(void);
static int loaded;

/* wire.py */
#define MAGIC "OMZ\x03"
#define PREFIX_LEN 7
#define MAX_NAME_BYTES 512 /* wire.MAX_NAME_LEN counts characters; longer in bytes: Python */
#define MAX_MAP 64
#define MAX_SEQ (((int64_t)1) << 62)
#define MAX_HEADER 65535

enum vtype { V_ABSENT = 0, V_NIL, V_BOOL, V_INT, V_FLOAT, V_STR, V_BIN };

typedef struct {
    enum vtype type;
    const unsigned char *p; /* str / bin */
    size_t n;
    int64_t i; /* int, bool */
    double d;  /* float */
} value_t;

enum field {
    F_ID, F_KIND, F_EXCHANGE, F_TOPIC, F_SERVER, F_FANOUT, F_CALL, F_TTL, F_SEQ, F_PIN,
    F_TRY, F_TO, F_STATE, F_HB, F_IDS, F_CONFIRM, F_COPIES, F_BATCH, F_IDS_OK, N_FIELDS
};
static const char *field_names[N_FIELDS] = {
    "id", "kind", "exchange", "topic", "server", "fanout", "call", "ttl", "seq", "pin",
    "try", "to", "state", "hb", "ids", "confirm", "copies", "batch", "idsok",
};

/* ---- msgpack, the subset a header's fast path holds ---------------------------- */

/* Strict UTF-8, as Python's decoder (raw=False) judges a str. */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

static uint64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int k = 0; k < n; k++) v = (v << 8) | p[k];
    return v;
}

/* One scalar at *pos; 0 when it is something else (array, map, ext) or truncated. */
static int read_scalar(const unsigned char *buf, size_t end, size_t *pos, value_t *v) {
    size_t at = *pos;
    if (at >= end) return 0;
    unsigned char c = buf[at++];
    size_t n = 0, need = 0;
    memset(v, 0, sizeof(*v));
    if (c <= 0x7F) { v->type = V_INT; v->i = c; }
    else if (c >= 0xE0) { v->type = V_INT; v->i = (int8_t)c; }
    else if (c >= 0xA0 && c <= 0xBF) { v->type = V_STR; n = c & 0x1F; }
    else {
        switch (c) {
        case 0xC0: v->type = V_NIL; break;
        case 0xC2: case 0xC3: v->type = V_BOOL; v->i = c == 0xC3; break;
        case 0xCC: case 0xCD: case 0xCE: case 0xCF: {
            int w = 1 << (c - 0xCC);
            if (at + w > end) return 0;
            uint64_t u = be(buf + at, w);
            at += w;
            if (u > (uint64_t)INT64_MAX) return 0;
            v->type = V_INT; v->i = (int64_t)u;
            break;
        }
        case 0xD0: case 0xD1: case 0xD2: case 0xD3: {
            int w = 1 << (c - 0xD0);
            if (at + w > end) return 0;
            uint64_t u = be(buf + at, w);
            at += w;
            int64_t s;
            if (w == 1) s = (int8_t)u;
            else if (w == 2) s = (int16_t)u;
            else if (w == 4) s = (int32_t)u;
            else s = (int64_t)u;
            v->type = V_INT; v->i = s;
            break;
        }
        case 0xCA: {
            if (at + 4 > end) return 0;
            uint32_t u = (uint32_t)be(buf + at, 4);
            float f;
            memcpy(&f, &u, 4);
            at += 4;
            v->type = V_FLOAT; v->d = f;
            break;
        }
        case 0xCB: {
            if (at + 8 > end) return 0;
            uint64_t u = be(buf + at, 8);
            memcpy(&v->d, &u, 8);
            at += 8;
            v->type = V_FLOAT;
            break;
        }
        case 0xD9: case 0xDA: case 0xDB:
            need = (size_t)1 << (c - 0xD9);
            v->type = V_STR;
            break;
        case 0xC4: case 0xC5: case 0xC6:
            need = (size_t)1 << (c - 0xC4);
            v->type = V_BIN;
            break;
        default:
            return 0;
        }
    }
    if (need) {
        if (at + need > end) return 0;
        n = (size_t)be(buf + at, (int)need);
        at += need;
    }
    if (v->type == V_STR || v->type == V_BIN) {
        if (n > end - at) return 0;
        if (v->type == V_STR && !utf8_valid(buf + at, n)) return 0;
        v->p = buf + at;
        v->n = n;
        at += n;
    }
    *pos = at;
    return 1;
}

/* The header map; 0 when the fast path cannot judge it (Python will). */
static int read_header(const unsigned char *buf, size_t end, value_t *fields) {
    size_t pos = 0, count;
    if (end == 0) return 0;
    unsigned char c = buf[pos++];
    if (c >= 0x80 && c <= 0x8F) count = c & 0x0F;
    else if (c == 0xDE && end >= 3) { count = (size_t)be(buf + 1, 2); pos = 3; }
    else return 0;
    if (count > MAX_MAP) return 0;
    memset(fields, 0, sizeof(value_t) * N_FIELDS);
    for (size_t k = 0; k < count; k++) {
        value_t key, val;
        if (!read_scalar(buf, end, &pos, &key) || key.type != V_STR) return 0;
        if (!read_scalar(buf, end, &pos, &val)) return 0;
        for (int f = 0; f < N_FIELDS; f++) {
            if (strlen(field_names[f]) == key.n && !memcmp(field_names[f], key.p, key.n)) {
                fields[f] = val; /* a repeated key: the last one, as a dict */
                break;
            }
        }
    }
    return pos == end; /* trailing bytes: msgpack's ExtraData, malformed */
}

static int truthy(const value_t *v) {
    switch (v->type) {
    case V_BOOL: case V_INT: return v->i != 0;
    case V_FLOAT: return v->d != 0.0;
    case V_STR: case V_BIN: return v->n != 0;
    default: return 0;
    }
}

static int is_str(const value_t *v, const char *text) {
    size_t n = strlen(text);
    return v->type == V_STR && v->n == n && !memcmp(v->p, text, n);
}

typedef struct {
    unsigned char *p;
    size_t n, cap;
} out_t;

static void put(out_t *o, const void *data, size_t n) {
    if (o->n + n <= o->cap) memcpy(o->p + o->n, data, n);
    o->n += n;
}

static void put_byte(out_t *o, unsigned char c) { put(o, &c, 1); }

static void put_be(out_t *o, uint64_t v, int w) {
    unsigned char b[8];
    for (int k = w - 1; k >= 0; k--) { b[k] = (unsigned char)v; v >>= 8; }
    put(o, b, (size_t)w);
}

static void put_str(out_t *o, const void *s, size_t n) {
    if (n < 32) put_byte(o, (unsigned char)(0xA0 | n));
    else if (n < 256) { put_byte(o, 0xD9); put_be(o, n, 1); }
    else { put_byte(o, 0xDA); put_be(o, n, 2); }
    put(o, s, n);
}

static void put_cstr(out_t *o, const char *s) { put_str(o, s, strlen(s)); }

static void put_int(out_t *o, int64_t v) {
    if (v >= 0) {
        if (v < 128) put_byte(o, (unsigned char)v);
        else if (v < 256) { put_byte(o, 0xCC); put_be(o, (uint64_t)v, 1); }
        else if (v < 65536) { put_byte(o, 0xCD); put_be(o, (uint64_t)v, 2); }
        else if (v <= 0xFFFFFFFFLL) { put_byte(o, 0xCE); put_be(o, (uint64_t)v, 4); }
        else { put_byte(o, 0xCF); put_be(o, (uint64_t)v, 8); }
    } else if (v >= -32) {
        put_byte(o, (unsigned char)(int8_t)v);
    } else {
        put_byte(o, 0xD3);
        put_be(o, (uint64_t)v, 8);
    }
}

static void put_hex(out_t *o, const unsigned char *s, size_t n) {
    static const char digits[] = "0123456789abcdef";
    char hex[510];
    for (size_t k = 0; k < n; k++) {
        hex[2 * k] = digits[s[k] >> 4];
        hex[2 * k + 1] = digits[s[k] & 15];
    }
    put_str(o, hex, 2 * n);
}

/* bytes.fromhex of a routing id (1 to 255 bytes); 0 for anything else. */
static int unhex(const value_t *v, unsigned char *out, size_t *n) {
    if (v->type != V_STR || v->n == 0 || v->n % 2 || v->n > 510) return 0;
    for (size_t k = 0; k < v->n; k++) {
        unsigned char c = v->p[k], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return 0;
        if (k % 2) out[k / 2] |= d;
        else out[k / 2] = (unsigned char)(d << 4);
    }
    *n = v->n / 2;
    return 1;
}

/* ---- the core ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *proxy;
    void *socket;
    int curve;
    double answer_floor, answer_slack;
    Py_ssize_t max_clients;
    PyObject *pong; /* proxy._PONG, the answer to a ping */
    unsigned long long handled; /* messages this core handled, since it was made */
    /* the proxy's state, read at each pump(): Python may have replaced an attribute */
    PyObject *clients, *owner, *allowed, *labels, *totals, *counters, *peers, *by_server,
        *by_topic, *answers, *per_target, *entries, *order;
    Py_ssize_t max_entries;
} Core;

static PyObject *s_clients, *s_owner, *s_allowed, *s_labels, *s_totals, *s_counters, *s_table,
    *s_peers, *s_server, *s_topic, *s_answers, *s_ids, *s_last_seen, *s_permissions,
    *s_may_send, *s_inc, *s_delivered, *s_extend, *s_received,
    *s_routed, *s_acks, *s_replies, *s_rpc, *s_registration, *s_targets, *s_entries, *s_order,
    *s_max_entries, *s_append;

static uint64_t rng_state;

/* xorshift64*: the listener of a message without a sequence number, like
 * random.getrandbits(32) in Python (no guarantee but "any of them"). */
static uint64_t random32(void) {
    if (rng_state == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        rng_state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^ 1;
    }
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (rng_state * 0x2545F4914F6CDD1DULL) >> 32;
}

static double monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void drop_state(Core *self) {
    Py_CLEAR(self->clients);
    Py_CLEAR(self->owner);
    Py_CLEAR(self->allowed);
    Py_CLEAR(self->labels);
    Py_CLEAR(self->totals);
    Py_CLEAR(self->counters);
    Py_CLEAR(self->peers);
    Py_CLEAR(self->by_server);
    Py_CLEAR(self->by_topic);
    Py_CLEAR(self->answers);
    Py_CLEAR(self->per_target);
    Py_CLEAR(self->entries);
    Py_CLEAR(self->order);
}

static int fetch_dict(PyObject *obj, PyObject *name, PyObject **out) {
    *out = PyObject_GetAttr(obj, name);
    if (*out == NULL) return -1;
    if (!PyDict_Check(*out)) {
        PyErr_Format(PyExc_TypeError, "proxy state %U is not a dict", name);
        return -1;
    }
    return 0;
}

static int fetch_state(Core *self) {
    PyObject *p = self->proxy, *table = NULL;
    if (fetch_dict(p, s_clients, &self->clients) || fetch_dict(p, s_owner, &self->owner) ||
        fetch_dict(p, s_allowed, &self->allowed) || fetch_dict(p, s_labels, &self->labels) ||
        fetch_dict(p, s_totals, &self->totals))
        return -1;
    if ((self->counters = PyObject_GetAttr(p, s_counters)) == NULL) return -1;
    if ((self->answers = PyObject_GetAttr(p, s_answers)) == NULL) return -1;
    if (fetch_dict(self->counters, s_targets, &self->per_target) ||
        fetch_dict(self->answers, s_entries, &self->entries))
        return -1;
    if ((self->order = PyObject_GetAttr(self->answers, s_order)) == NULL) return -1;
    PyObject *max = PyObject_GetAttr(self->answers, s_max_entries);
    if (max == NULL) return -1;
    self->max_entries = PyLong_AsSsize_t(max);
    Py_DECREF(max);
    if (self->max_entries == -1 && PyErr_Occurred()) return -1;
    if ((table = PyObject_GetAttr(p, s_table)) == NULL) return -1;
    int bad = fetch_dict(table, s_peers, &self->peers) ||
              fetch_dict(table, s_server, &self->by_server) ||
              fetch_dict(table, s_topic, &self->by_topic);
    Py_DECREF(table);
    return bad ? -1 : 0;
}

static int call_ok(PyObject *result) {
    if (result == NULL) return -1;
    Py_DECREF(result);
    return 0;
}

/* dict[key] = dict.get(key, 0) + 1 */
static int add_one(PyObject *dict, PyObject *key) {
    PyObject *old = PyDict_GetItemWithError(dict, key);
    if (old == NULL && PyErr_Occurred()) return -1;
    PyObject *one = PyLong_FromLong(1);
    PyObject *sum = old ? PyNumber_Add(old, one) : one;
    if (old) Py_DECREF(one);
    if (sum == NULL) return -1;
    int rc = PyDict_SetItem(dict, key, sum);
    Py_DECREF(sum);
    return rc;
}

static int count_received(Core *self) { return add_one(self->totals, s_received); }

/* counters.inc(name, label), on Counters' own dicts: the global count, and the
 * target's when its entry exists; a label without one yet goes through inc(),
 * which makes it (or counts it under the overflow label). */
static int count(Core *self, PyObject *name, PyObject *label) {
    if (label == NULL) return add_one(self->totals, name);
    PyObject *entry = PyDict_GetItemWithError(self->per_target, label);
    if (entry == NULL) {
        if (PyErr_Occurred()) return -1;
        return call_ok(PyObject_CallMethodObjArgs(self->counters, s_inc, name, label, NULL));
    }
    if (!PyDict_Check(entry)) {
        PyErr_SetString(PyExc_TypeError, "a target's counters are not a dict");
        return -1;
    }
    return add_one(self->totals, name) || add_one(entry, name) ? -1 : 0;
}

/* The answer book (routing.AnswerBook), on its own _entries and _order: these three
 * do what its methods of the same name do. */
static PyObject *answer_key(PyObject *listener, PyObject *msg_id) {
    return PyTuple_Pack(2, listener, msg_id);
}

static int book_delivered(Core *self, PyObject *listener, PyObject *msg_id, PyObject *sender,
                          double expiry) {
    PyObject *when = PyFloat_FromDouble(expiry);
    if (when == NULL) return -1;
    if (PyDict_GET_SIZE(self->entries) >= self->max_entries) {
        /* full: the method makes room, oldest first */
        int rc = call_ok(PyObject_CallMethodObjArgs(self->answers, s_delivered, listener, msg_id,
                                                    sender, when, NULL));
        Py_DECREF(when);
        return rc;
    }
    int rc = -1;
    PyObject *key = answer_key(listener, msg_id), *entry = NULL, *mark = NULL;
    if (key == NULL || (entry = PyTuple_Pack(2, sender, when)) == NULL ||
        (mark = PyTuple_Pack(2, when, key)) == NULL)
        goto done;
    if (PyDict_SetItem(self->entries, key, entry)) goto done;
    rc = call_ok(PyObject_CallMethodObjArgs(self->order, s_append, mark, NULL));
done:
    Py_DECREF(when);
    Py_XDECREF(key);
    Py_XDECREF(entry);
    Py_XDECREF(mark);
    return rc;
}

/* 1 yes, 0 no, -1 error */
static int book_may_answer(Core *self, PyObject *listener, PyObject *msg_id, PyObject *dest,
                           double now) {
    PyObject *key = answer_key(listener, msg_id);
    if (key == NULL) return -1;
    PyObject *entry = PyDict_GetItemWithError(self->entries, key);
    Py_DECREF(key);
    if (entry == NULL) return PyErr_Occurred() ? -1 : 0;
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 2) {
        PyErr_SetString(PyExc_TypeError, "an answer book entry is not (sender, expiry)");
        return -1;
    }
    int same = PyObject_RichCompareBool(PyTuple_GET_ITEM(entry, 0), dest, Py_EQ);
    if (same <= 0) return same;
    double expiry = PyFloat_AsDouble(PyTuple_GET_ITEM(entry, 1));
    if (expiry == -1.0 && PyErr_Occurred()) return -1;
    return expiry > now;
}

static int book_answered(Core *self, PyObject *listener, PyObject *msg_id) {
    PyObject *key = answer_key(listener, msg_id);
    if (key == NULL) return -1;
    int rc = PyDict_DelItem(self->entries, key);
    Py_DECREF(key);
    if (rc && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        rc = 0;
    }
    return rc;
}

/* Send [dest, prefix+header+body]: 0 sent, 1 would block or no such peer, -1 other error
 * (errno kept for Python). */
static int send_to(Core *self, const unsigned char *dest, size_t dest_n, char mtype,
                   const unsigned char *hdr, size_t hdr_n, const unsigned char *body,
                   size_t body_n) {
    zmq_msg_t id, data;
    if (z_msg_init_size(&id, dest_n)) return -1;
    memcpy(z_msg_data(&id), dest, dest_n);
    if (z_msg_send(&id, self->socket, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        int err = z_errno();
        z_msg_close(&id);
        return (err == EAGAIN || err == EHOSTUNREACH) ? 1 : -1;
    }
    size_t total = PREFIX_LEN + hdr_n + body_n;
    if (z_msg_init_size(&data, total)) return -1;
    unsigned char *p = z_msg_data(&data);
    memcpy(p, MAGIC, 4);
    p[4] = (unsigned char)mtype;
    p[5] = (unsigned char)(hdr_n >> 8);
    p[6] = (unsigned char)hdr_n;
    memcpy(p + PREFIX_LEN, hdr, hdr_n);
    if (body_n) memcpy(p + PREFIX_LEN + hdr_n, body, body_n);
    if (z_msg_send(&data, self->socket, ZMQ_DONTWAIT) < 0) {
        z_msg_close(&data);
        return -1;
    }
    return 0;
}

static PyObject *str_of(const value_t *v) {
    return PyUnicode_DecodeUTF8((const char *)v->p, (Py_ssize_t)v->n, "strict");
}

/* A borrowed reference, or NULL (with an exception set only on an error). */
static PyObject *dict_get(PyObject *dict, PyObject *key) {
    return PyDict_GetItemWithError(dict, key);
}

/* The sender is alive (as proxy._dispatch): its binding outlives its pings. */
static int note_client(Core *self, PyObject *ident, double now) {
    int known = PyDict_Contains(self->clients, ident);
    if (known < 0) return -1;
    if (!known && PyDict_GET_SIZE(self->clients) >= self->max_clients) return 0;
    PyObject *when = PyFloat_FromDouble(now);
    if (when == NULL) return -1;
    int bad = PyDict_SetItem(self->clients, ident, when);
    Py_DECREF(when);
    return bad;
}

/* Send [ident, frame] as proxy._send: to a peer that is gone or full it is dropped. */
static int send_frame(Core *self, PyObject *ident, PyObject *frame) {
    zmq_msg_t id, data;
    size_t id_n = (size_t)PyBytes_GET_SIZE(ident), n = (size_t)PyBytes_GET_SIZE(frame);
    if (z_msg_init_size(&id, id_n)) goto fail;
    memcpy(z_msg_data(&id), PyBytes_AS_STRING(ident), id_n);
    if (z_msg_send(&id, self->socket, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        int err = z_errno();
        z_msg_close(&id);
        if (err == EAGAIN || err == EHOSTUNREACH) return 0;
        errno = err;
        goto fail;
    }
    if (z_msg_init_size(&data, n)) goto fail;
    memcpy(z_msg_data(&data), PyBytes_AS_STRING(frame), n);
    if (z_msg_send(&data, self->socket, ZMQ_DONTWAIT) < 0) {
        errno = z_errno();
        z_msg_close(&data);
        goto fail;
    }
    return 0;
fail:
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
}

/* A HELLO: 1 handled, -1 error. */
static int hello(Core *self, PyObject *ident, double now) {
    if (count_received(self) || note_client(self, ident, now) || send_frame(self, ident, self->pong))
        return -1;
    return 1;
}

/* A REGISTER that repeats, byte for byte, the one that gave a known listener its
 * targets (peer.registration, which proxy.py sets only when the key could listen on
 * all of them and clears when the keys are read again): it changes nothing but the
 * listener's last_seen, and gets its PONG.  1 handled, 0 for Python, -1 error. */
static int register_again(Core *self, PyObject *ident, const unsigned char *frame, size_t n,
                          double now) {
    PyObject *peer = dict_get(self->peers, ident);
    if (peer == NULL) return PyErr_Occurred() ? -1 : 0;
    Py_INCREF(peer);
    int rc = -1;
    PyObject *seen = PyObject_GetAttr(peer, s_registration), *when = NULL;
    if (seen == NULL) goto done;
    if (!PyBytes_Check(seen) || (size_t)PyBytes_GET_SIZE(seen) != n ||
        memcmp(PyBytes_AS_STRING(seen), frame, n)) {
        rc = 0;
        goto done;
    }
    if ((when = PyFloat_FromDouble(now)) == NULL || PyObject_SetAttr(peer, s_last_seen, when))
        goto done;
    if (count_received(self) || send_frame(self, ident, self->pong)) goto done;
    rc = 1;
done:
    Py_XDECREF(seen);
    Py_XDECREF(when);
    Py_DECREF(peer);
    return rc;
}

/* 1 handled, 0 for Python, -1 error. */
static int route_send(Core *self, PyObject *ident, const value_t *f, const unsigned char *body,
                      size_t body_n, PyObject *user, double now) {
    const value_t *vid = &f[F_ID], *vx = &f[F_EXCHANGE], *vt = &f[F_TOPIC], *vs = &f[F_SERVER];
    if (!body_n || vid->type != V_STR || vid->n > MAX_NAME_BYTES || !is_str(&f[F_KIND], "r"))
        return 0;
    if (vx->type != V_STR || vx->n > MAX_NAME_BYTES || vt->type != V_STR || !vt->n ||
        vt->n > MAX_NAME_BYTES)
        return 0;
    if (!(vs->type == V_ABSENT || vs->type == V_NIL || (vs->type == V_STR && vs->n <= MAX_NAME_BYTES)))
        return 0;
    double ttl = 0.0;
    if (f[F_TTL].type == V_INT) ttl = (double)f[F_TTL].i;
    else if (f[F_TTL].type == V_FLOAT) ttl = f[F_TTL].d;
    else if (f[F_TTL].type != V_ABSENT) return 0;
    uint64_t seq;
    if (f[F_SEQ].type == V_ABSENT || f[F_SEQ].type == V_NIL)
        seq = random32(); /* a sender that does not say: any listener, as in Python */
    else if (f[F_SEQ].type == V_INT && f[F_SEQ].i >= 0 && f[F_SEQ].i < MAX_SEQ)
        seq = (uint64_t)f[F_SEQ].i;
    else
        return 0;
    int has_try = f[F_TRY].type == V_INT;
    if (has_try && f[F_TRY].i > 1) return 0; /* sent again: the resend books are Python's */
    if (truthy(&f[F_FANOUT])) return 0;
    if (!(f[F_PIN].type == V_ABSENT || f[F_PIN].type == V_NIL)) return 0;
    int call = truthy(&f[F_CALL]);
    /* proxy._route: a cast's sender that reads batched "taken" (exactly 1, int or bool) */
    int ids_ok = !call && (f[F_IDS_OK].type == V_INT || f[F_IDS_OK].type == V_BOOL) &&
                 f[F_IDS_OK].i == 1;

    int rc = -1, sent;
    PyObject *exchange = NULL, *topic = NULL, *server = NULL, *key = NULL, *label, *members,
             *ids = NULL, *msg_id = NULL, *entry, *perms = NULL;
    if ((exchange = str_of(vx)) == NULL || (topic = str_of(vt)) == NULL) goto done;
    server = (vs->type == V_STR) ? str_of(vs) : PyUnicode_FromStringAndSize("", 0);
    if (server == NULL) goto done;
    if ((key = PyTuple_Pack(3, s_rpc, exchange, topic)) == NULL) goto done;
    label = dict_get(self->labels, key);
    Py_CLEAR(key);
    if (label == NULL) { rc = PyErr_Occurred() ? -1 : 0; goto done; }
    Py_INCREF(label);
    if (self->curve && user != NULL) {
        entry = dict_get(self->allowed, user);
        if (entry == NULL && PyErr_Occurred()) goto done_label;
        if (entry != NULL) {
            if ((perms = PyObject_GetAttr(entry, s_permissions)) == NULL) goto done_label;
            if (perms != Py_None) {
                PyObject *ok = PyObject_CallMethodObjArgs(perms, s_may_send, s_rpc, exchange, topic,
                                                          server, Py_False, NULL);
                if (ok == NULL) goto done_label;
                int yes = PyObject_IsTrue(ok);
                Py_DECREF(ok);
                if (yes < 0) goto done_label;
                if (!yes) { rc = 0; goto done_label; } /* refused: Python says so */
            }
        }
    }
    if (PyUnicode_GET_LENGTH(server))
        key = PyTuple_Pack(3, exchange, topic, server);
    else
        key = PyTuple_Pack(2, exchange, topic);
    if (key == NULL) goto done_label;
    members = dict_get(PyUnicode_GET_LENGTH(server) ? self->by_server : self->by_topic, key);
    if (members == NULL) { rc = PyErr_Occurred() ? -1 : 0; goto done_label; }
    if ((ids = PyObject_GetAttr(members, s_ids)) == NULL) goto done_label;
    if (!PyList_Check(ids) || PyList_GET_SIZE(ids) == 0) { rc = 0; goto done_label; }
    PyObject *dest = PyList_GET_ITEM(ids, (Py_ssize_t)(seq % (uint64_t)PyList_GET_SIZE(ids)));
    Py_INCREF(dest);
    if (!PyBytes_Check(dest)) { rc = 0; goto done_dest; }

    unsigned char hbuf[2048];
    out_t o = {hbuf, 0, sizeof(hbuf)};
    put_byte(&o, (unsigned char)(0x80 | (3 + has_try + ids_ok)));
    put_cstr(&o, "id");
    put_str(&o, vid->p, vid->n);
    put_cstr(&o, "from");
    put_hex(&o, (const unsigned char *)PyBytes_AS_STRING(ident), (size_t)PyBytes_GET_SIZE(ident));
    put_cstr(&o, call ? "call" : "ack");
    put_int(&o, 1);
    if (ids_ok) { /* before "try", in proxy._route's order */
        put_cstr(&o, "idsok");
        put_int(&o, 1);
    }
    if (has_try) {
        put_cstr(&o, "try");
        put_int(&o, f[F_TRY].i);
    }
    if (o.n > o.cap) { rc = 0; goto done_dest; }
    /* before the send, as in proxy._dispatch */
    if (note_client(self, ident, now)) goto done_dest;
    sent = send_to(self, (const unsigned char *)PyBytes_AS_STRING(dest), (size_t)PyBytes_GET_SIZE(dest),
                   'D', hbuf, o.n, body, body_n);
    if (sent != 0) { rc = 0; goto done_dest; } /* busy or gone: Python's rules, and its errors */
    if (count_received(self)) goto done_dest;
    if (count(self, s_routed, label)) goto done_dest;
    if (self->curve) {
        double expiry = now + (ttl > self->answer_floor ? ttl : self->answer_floor) + self->answer_slack;
        if ((msg_id = str_of(vid)) == NULL || book_delivered(self, dest, msg_id, ident, expiry))
            goto done_dest;
    }
    rc = 1;
done_dest:
    Py_DECREF(dest);
done_label:
    Py_DECREF(label);
done:
    Py_XDECREF(exchange);
    Py_XDECREF(topic);
    Py_XDECREF(server);
    Py_XDECREF(key);
    Py_XDECREF(ids);
    Py_XDECREF(msg_id);
    Py_XDECREF(perms);
    return rc;
}

/* ACK (mtype 'A') or REPLY ('P'): 1 handled, 0 for Python, -1 error. */
static int relay(Core *self, char mtype, PyObject *ident, const value_t *f,
                 const unsigned char *body, size_t body_n, double now) {
    const value_t *vid = &f[F_ID];
    unsigned char dest[255];
    size_t dest_n;
    if (vid->type != V_STR || vid->n > MAX_NAME_BYTES || !unhex(&f[F_TO], dest, &dest_n))
        return 0;
    int final;
    const char *state = "taken";
    if (mtype == 'P') {
        final = !truthy(&f[F_HB]);
    } else {
        if (!(f[F_IDS].type == V_ABSENT || f[F_IDS].type == V_NIL)) return 0; /* batched */
        if (f[F_STATE].type != V_ABSENT) {
            if (is_str(&f[F_STATE], "taken")) state = "taken";
            else if (is_str(&f[F_STATE], "waiting")) state = "waiting";
            else if (is_str(&f[F_STATE], "released")) state = "released";
            else return 0;
        }
        final = state[0] == 't';
        if (final && truthy(&f[F_CONFIRM])) return 0; /* asks for a verdict: Python judges */
    }
    int rc = -1;
    PyObject *msg_id = NULL, *dest_obj = NULL, *peer, *when = NULL;
    if ((msg_id = str_of(vid)) == NULL) goto done;
    if (self->curve) {
        /* proxy._answerable: only from the listener given the message, to its sender */
        if ((dest_obj = PyBytes_FromStringAndSize((const char *)dest, (Py_ssize_t)dest_n)) == NULL) goto done;
        int known = PyDict_Contains(self->owner, dest_obj);
        if (known < 0) goto done;
        if (!known) { rc = 0; goto done; }
        int yes = book_may_answer(self, ident, msg_id, dest_obj, now);
        if (yes < 0) goto done;
        if (!yes) { rc = 0; goto done; } /* refused: Python counts and logs it */
    }
    /* a listener's answers keep it registered (table.touch) */
    peer = dict_get(self->peers, ident);
    if (peer == NULL && PyErr_Occurred()) goto done;
    if (peer != NULL) {
        if ((when = PyFloat_FromDouble(now)) == NULL) goto done;
        if (PyObject_SetAttr(peer, s_last_seen, when)) goto done;
        Py_CLEAR(when);
    }
    if (self->curve) {
        if (final) {
            if (book_answered(self, ident, msg_id)) goto done;
        } else {
            if ((when = PyFloat_FromDouble(now + self->answer_floor + self->answer_slack)) == NULL) goto done;
            if (call_ok(PyObject_CallMethodObjArgs(self->answers, s_extend, ident, msg_id, when, NULL))) goto done;
            Py_CLEAR(when);
        }
    }
    unsigned char hbuf[2048];
    out_t o = {hbuf, 0, sizeof(hbuf)};
    if (mtype == 'P') {
        int hb = !final;
        put_byte(&o, (unsigned char)(0x80 | (hb ? 2 : 1)));
        put_cstr(&o, "id");
        put_str(&o, vid->p, vid->n);
        if (hb) {
            put_cstr(&o, "hb");
            put_int(&o, 1);
        }
    } else {
        static const int extra[] = {F_TRY, F_COPIES, F_BATCH};
        static const char *extra_names[] = {"try", "copies", "batch"};
        int n = 3;
        for (int k = 0; k < 3; k++) n += f[extra[k]].type == V_INT;
        put_byte(&o, (unsigned char)(0x80 | n));
        put_cstr(&o, "id");
        put_str(&o, vid->p, vid->n);
        put_cstr(&o, "state");
        put_cstr(&o, state);
        put_cstr(&o, "by");
        put_hex(&o, (const unsigned char *)PyBytes_AS_STRING(ident), (size_t)PyBytes_GET_SIZE(ident));
        for (int k = 0; k < 3; k++) {
            if (f[extra[k]].type == V_INT) {
                put_cstr(&o, extra_names[k]);
                put_int(&o, f[extra[k]].i);
            }
        }
    }
    if (o.n > o.cap) {
        PyErr_SetString(PyExc_RuntimeError, "relayed header too large");
        goto done;
    }
    if (count_received(self)) goto done;
    if (count(self, mtype == 'P' ? s_replies : s_acks, NULL)) goto done;
    /* as proxy._send: an answer to a peer that is gone or full is dropped */
    if (send_to(self, dest, dest_n, mtype, hbuf, o.n, body, body_n) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    rc = 1;
done:
    Py_XDECREF(msg_id);
    Py_XDECREF(dest_obj);
    Py_XDECREF(when);
    return rc;
}

/* One message [ident, frame]: 1 handled, 0 for Python, -1 error. */
static int fast_path(Core *self, zmq_msg_t *id_msg, zmq_msg_t *data_msg, PyObject **user_out) {
    size_t id_n = z_msg_size(id_msg), n = z_msg_size(data_msg);
    const unsigned char *frame = z_msg_data(data_msg);
    if (id_n == 0 || id_n > 255 || n < PREFIX_LEN || memcmp(frame, MAGIC, 4)) return 0;
    char mtype = (char)frame[4];
    if (mtype != 'S' && mtype != 'A' && mtype != 'P' && mtype != 'H' && mtype != 'R') return 0;
    size_t end = PREFIX_LEN + (((size_t)frame[5] << 8) | frame[6]);
    if (end > n) return 0;
    value_t f[N_FIELDS];
    /* a REGISTER's header (its targets) is compared whole, not read */
    if (mtype != 'R' && !read_header(frame + PREFIX_LEN, end - PREFIX_LEN, f)) return 0;

    int rc = -1;
    PyObject *ident = PyBytes_FromStringAndSize(z_msg_data(id_msg), (Py_ssize_t)id_n);
    if (ident == NULL) return -1;
    PyObject *user = NULL;
    if (self->curve) {
        /* the routing id must already be bound to this connection's key (proxy._bind) */
        const char *uid = z_msg_gets(id_msg, "User-Id");
        if (uid == NULL) { rc = 0; goto done; }
        PyObject *owner = dict_get(self->owner, ident);
        if (owner == NULL) { rc = PyErr_Occurred() ? -1 : 0; goto done; }
        if (!PyUnicode_Check(owner) || PyUnicode_CompareWithASCIIString(owner, uid) != 0) {
            rc = 0;
            goto done;
        }
        user = owner;
        Py_INCREF(user);
    }
    double now = monotonic();
    if (mtype == 'S')
        rc = route_send(self, ident, f, frame + end, n - end, user, now);
    else if (mtype == 'R')
        rc = register_again(self, ident, frame, n, now);
    else if (mtype == 'H')
        rc = hello(self, ident, now);
    else
        rc = relay(self, mtype, ident, f, frame + end, n - end, now);
done:
    Py_DECREF(ident);
    *user_out = user;
    return rc;
}

static PyObject *frame_bytes(zmq_msg_t *msg) {
    return PyBytes_FromStringAndSize(z_msg_data(msg), (Py_ssize_t)z_msg_size(msg));
}

/* The message for Python: (handled, [frames], user or None, fd). */
static PyObject *hand_over(Core *self, Py_ssize_t handled, zmq_msg_t *first, zmq_msg_t *second,
                           int has_second) {
    PyObject *frames = PyList_New(0), *item, *user;
    int more = 0;
    if (frames == NULL) return NULL;
    if ((item = frame_bytes(first)) == NULL || PyList_Append(frames, item)) goto fail_item;
    Py_DECREF(item);
    if (has_second) {
        if ((item = frame_bytes(second)) == NULL || PyList_Append(frames, item)) goto fail_item;
        Py_DECREF(item);
        more = z_msg_more(second);
    } else {
        more = z_msg_more(first);
    }
    while (more) { /* the rest of a multi-part message is there already */
        zmq_msg_t part;
        z_msg_init(&part);
        if (z_msg_recv(&part, self->socket, ZMQ_DONTWAIT) < 0) {
            z_msg_close(&part);
            break;
        }
        more = z_msg_more(&part);
        item = frame_bytes(&part);
        z_msg_close(&part);
        if (item == NULL || PyList_Append(frames, item)) goto fail_item;
        Py_DECREF(item);
    }
    const char *uid = self->curve ? z_msg_gets(first, "User-Id") : NULL;
    if (uid != NULL) {
        if ((user = PyUnicode_FromString(uid)) == NULL) goto fail;
    } else {
        user = Py_None;
        Py_INCREF(user);
    }
    return Py_BuildValue("(nNNi)", handled, frames, user, z_msg_get(first, ZMQ_SRCFD));
fail_item:
    Py_XDECREF(item);
fail:
    Py_DECREF(frames);
    return NULL;
}

static PyObject *Core_pump(Core *self, PyObject *arg) {
    Py_ssize_t limit = PyLong_AsSsize_t(arg), handled = 0;
    if (limit == -1 && PyErr_Occurred()) return NULL;
    if (fetch_state(self)) {
        drop_state(self);
        return NULL;
    }
    PyObject *result = NULL;
    while (handled < limit) {
        zmq_msg_t first, second;
        z_msg_init(&first);
        if (z_msg_recv(&first, self->socket, ZMQ_DONTWAIT) < 0) {
            int err = z_errno();
            z_msg_close(&first);
            if (err != EAGAIN && err != EINTR) {
                errno = err;
                PyErr_SetFromErrno(PyExc_OSError);
                goto out;
            }
            break;
        }
        int has_second = 0, rc = 0, second_open = z_msg_more(&first);
        PyObject *user = NULL;
        if (second_open) {
            z_msg_init(&second);
            has_second = z_msg_recv(&second, self->socket, ZMQ_DONTWAIT) >= 0;
            if (has_second && !z_msg_more(&second))
                rc = fast_path(self, &first, &second, &user);
        }
        Py_XDECREF(user);
        if (rc == 1) {
            handled++;
            self->handled++;
        } else if (rc == 0) {
            result = hand_over(self, handled, &first, &second, has_second);
        }
        z_msg_close(&first);
        if (second_open) z_msg_close(&second);
        if (rc != 1) goto out; /* Python's turn, or an error */
    }
    result = PyLong_FromSsize_t(handled);
out:
    drop_state(self);
    return result;
}

static int Core_init(Core *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"proxy", "socket", "curve", "answer_floor", "answer_slack",
                             "max_clients", "pong", NULL};
    PyObject *proxy, *pong;
    unsigned long long address;
    int curve;
    if (!loaded) {
        PyErr_SetString(PyExc_RuntimeError, "libzmq not loaded: call load() first");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OKpddnO!", kwlist, &proxy, &address, &curve,
                                     &self->answer_floor, &self->answer_slack, &self->max_clients,
                                     &PyBytes_Type, &pong))
        return -1;
    Py_XSETREF(self->proxy, Py_NewRef(proxy));
    Py_XSETREF(self->pong, Py_NewRef(pong));
    self->socket = (void *)(uintptr_t)address;
    self->curve = curve;
    return 0;
}

static void Core_dealloc(Core *self) {
    drop_state(self);
    Py_CLEAR(self->proxy);
    Py_CLEAR(self->pong);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Core_methods[] = {
    {"pump", (PyCFunction)Core_pump, METH_O,
     "pump(limit) -> int | (handled, frames, user, fd)\n\n"
     "Handle up to limit messages waiting on the ROUTER.  Returns how many when the socket\n"
     "ran empty or the limit was reached; otherwise stops at the first message Python\n"
     "must handle and returns it, after the ones handled before it."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Core_members[] = {
    {"handled", T_ULONGLONG, offsetof(Core, handled), READONLY,
     "Messages this core handled (the others went to Python)."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "oslo_messaging_zmq._core.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The proxy's per-message path, on the proxy's own state.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Core_init,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_methods = Core_methods,
    .tp_members = Core_members,
};

static PyObject *core_load(PyObject *module, PyObject *arg) {
    const char *path = PyUnicode_AsUTF8(arg);
    if (path == NULL) return NULL;
    void *lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (lib == NULL) {
        PyErr_Format(PyExc_ImportError, "%s is not loaded: %s", path, dlerror());
        return NULL;
    }
#define SYM(var, name)                                                                   \
    do {                                                                                 \
        *(void **)(&var) = dlsym(lib, name);                                             \
        if (var == NULL) {                                                               \
            PyErr_Format(PyExc_ImportError, "no %s in the libzmq of %s", name, path);    \
            return NULL;                                                                 \
        }                                                                                \
    } while (0)
    SYM(z_msg_init, "zmq_msg_init");
    SYM(z_msg_init_size, "zmq_msg_init_size");
    SYM(z_msg_recv, "zmq_msg_recv");
    SYM(z_msg_send, "zmq_msg_send");
    SYM(z_msg_close, "zmq_msg_close");
    SYM(z_msg_data, "zmq_msg_data");
    SYM(z_msg_size, "zmq_msg_size");
    SYM(z_msg_more, "zmq_msg_more");
    SYM(z_msg_get, "zmq_msg_get");
    SYM(z_msg_gets, "zmq_msg_gets");
    SYM(z_errno, "zmq_errno");
#undef SYM
    loaded = 1; /* the handle stays open: the library stays loaded with pyzmq anyway */
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"load", core_load, METH_O,
     "load(path): take libzmq's functions from the libzmq at path, which must be loaded\n"
     "already (pyzmq's own copy), so that Core uses the library of pyzmq's sockets."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_core",
    .m_doc = "The proxy's per-message path in C.",
    .m_size = -1,
    .m_methods = module_methods,
};

#define INTERN(var, text)                                                  \
    if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL

PyMODINIT_FUNC PyInit__core(void) {
    INTERN(s_clients, "clients");
    INTERN(s_owner, "_owner");
    INTERN(s_allowed, "_allowed");
    INTERN(s_labels, "_labels");
    INTERN(s_totals, "_totals");
    INTERN(s_counters, "counters");
    INTERN(s_table, "table");
    INTERN(s_peers, "peers");
    INTERN(s_server, "_server");
    INTERN(s_topic, "_topic");
    INTERN(s_answers, "answers");
    INTERN(s_ids, "ids");
    INTERN(s_last_seen, "last_seen");
    INTERN(s_permissions, "permissions");
    INTERN(s_may_send, "may_send");
    INTERN(s_inc, "inc");
    INTERN(s_delivered, "delivered");
    INTERN(s_extend, "extend");
    INTERN(s_received, "received");
    INTERN(s_routed, "routed");
    INTERN(s_acks, "acks");
    INTERN(s_replies, "replies");
    INTERN(s_rpc, "r");
    INTERN(s_registration, "registration");
    INTERN(s_targets, "targets");
    INTERN(s_entries, "_entries");
    INTERN(s_order, "_order");
    INTERN(s_max_entries, "max_entries");
    INTERN(s_append, "append");
    if (PyType_Ready(&CoreType) < 0) return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
