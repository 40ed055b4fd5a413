/*
 * tokenizer.c - loading tokenizers from Hugging Face files, added (special)
 * tokens, and the public encode/decode entry points (see tokenizer.h).
 *
 * Files read:
 *   vocab.json (or encoder.json)  flat {"token": id} object, parsed here by a
 *                                  small scanner so that errors carry line
 *                                  and column;
 *   merges.txt (or vocab.bpe)      "#version" line, then "a b" per line;
 *   vocab.txt                      one WordPiece token per line, id = line - 1;
 *   tokenizer.json                 the fast-tokenizer file (jansson);
 *   tokenizer_config.json,
 *   special_tokens_map.json        special token names, lower-casing flags,
 *                                  added_tokens_decoder (jansson);
 *   added_tokens.json              {"token": id} extra tokens (slow files).
 * Every file is read whole (capped at PS__TOK_MAX_FILE) and checked; an
 * error names the file and, where it can, the line.  Tokens must be valid
 * UTF-8 and ids must be below PS__TOK_MAX_ID.
 */
#include "lm/tokenizer_impl.h"
#include "lm/unicode.h"

#include "persona/hash.h"
#include "persona/status.h"

#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- small helpers ----------------------------------------------------- */

static int read_file(const char *path, char **out, size_t *out_len, struct ps_err *err)
{
    *out = NULL;
    *out_len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ps_err_set(err, PS_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return ps_err_set(err, PS_ERR_IO, "cannot read '%s': is a directory", path);
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = ps_xmalloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap >= PS__TOK_MAX_FILE) {
                free(buf);
                fclose(f);
                return ps_err_set(err, PS_ERR_TOO_BIG, "'%s' is larger than %zu MiB", path,
                                  PS__TOK_MAX_FILE >> 20);
            }
            cap *= 2;
            buf = ps_xrealloc(buf, cap + 1);
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                free(buf);
                fclose(f);
                return ps_err_set(err, PS_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
            }
            break;
        }
    }
    fclose(f);
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return PS_OK;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = ps_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* A token quoted for a message: JSON-escaped, at most ~60 bytes. */
static const char *quote(struct ps_buf *b, const char *s, size_t len)
{
    ps_buf_reset(b);
    int cut = len > 60;
    if (cut) {
        len = 60;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    ps_buf_json_str(b, s, len);
    if (cut) {
        b->len--;
        ps_buf_append(b, "...\"", 4);
    }
    return b->data;
}

/* 1-based line of the first occurrence of needle in buf, 0 if absent. */
static int find_line(const char *buf, size_t len, const char *needle, size_t nlen)
{
    if (!buf || nlen == 0 || nlen > len)
        return 0;
    const char *p = memmem(buf, len, needle, nlen);
    if (!p)
        return 0;
    int line = 1;
    for (const char *q = buf; q < p; q++)
        line += *q == '\n';
    return line;
}

/* ---- the vocabulary ---------------------------------------------------- */

static struct ps_tokenizer *tok_new(enum ps_tokenizer_kind kind)
{
    struct ps_tokenizer *t = ps_xcalloc(1, sizeof *t);
    t->kind = kind;
    t->eos = t->cls = t->sep = t->pad = t->unk = t->mask = -1;
    for (int i = 0; i < 256; i++)
        t->byte_id[i] = -1;
    t->lower = 1;
    t->strip_accents = -1;
    t->cjk = 1;
    t->clean = 1;
    t->max_chars = 100;
    memcpy(t->prefix, "##", 3);
    t->prefix_len = 2;
    return t;
}

void ps_tokenizer_free(struct ps_tokenizer *t)
{
    if (!t)
        return;
    free(t->arena);
    free(t->e_off);
    free(t->e_len);
    free(t->e_id);
    free(t->slots);
    free(t->id_index);
    free(t->tok);
    free(t->tok_len);
    for (size_t i = 0; i < t->n_added; i++)
        free(t->added[i].content);
    free(t->added);
    free(t->is_added);
    free(t->merges);
    free(t->merge_fp);
    free(t->byte_pairs);
    free(t->bytes);
    free(t->bytes_off);
    free(t->bytes_len);
    free(t);
}

static inline uint64_t vhash(const char *s, size_t len)
{
    return ps_hash64(s, len, 0x70C3);
}

/* Entry of string s, or -1. */
static int64_t entry_find(const struct ps_tokenizer *t, const char *s, size_t len, uint64_t h)
{
    if (!t->slots)
        return -1;
    uint32_t h32 = (uint32_t)(h >> 32);
    size_t j = (size_t)h & t->slot_mask;
    while (t->slots[j].e1) {
        uint32_t e = t->slots[j].e1 - 1;
        if (t->slots[j].hash == h32 && t->e_len[e] == len &&
            memcmp(t->arena + t->e_off[e], s, len) == 0)
            return e;
        j = (j + 1) & t->slot_mask;
    }
    return -1;
}

int32_t ps__tok_find(const struct ps_tokenizer *t, const char *s, size_t len)
{
    int64_t e = entry_find(t, s, len, vhash(s, len));
    return e < 0 ? -1 : t->e_id[e];
}

static void slots_grow(struct ps_tokenizer *t)
{
    size_t n = t->slots ? (t->slot_mask + 1) * 2 : 1024;
    struct ps__vslot *sl = ps_xcalloc(n, sizeof *sl);
    for (size_t e = 0; e < t->n_e; e++) {
        uint64_t h = vhash(t->arena + t->e_off[e], t->e_len[e]);
        size_t j = (size_t)h & (n - 1);
        while (sl[j].e1)
            j = (j + 1) & (n - 1);
        sl[j].hash = (uint32_t)(h >> 32);
        sl[j].e1 = (uint32_t)e + 1;
    }
    free(t->slots);
    t->slots = sl;
    t->slot_mask = n - 1;
}

/* Interns s; returns its entry and whether it was new. */
static uint32_t entry_intern(struct ps_tokenizer *t, const char *s, size_t len, int32_t id,
                             int *inserted)
{
    uint64_t h = vhash(s, len);
    int64_t e = entry_find(t, s, len, h);
    if (e >= 0) {
        *inserted = 0;
        return (uint32_t)e;
    }
    if (!t->slots || (t->n_e + 1) * 2 > t->slot_mask + 1) {
        slots_grow(t);
    }
    size_t k = t->n_e++;
    t->e_off = ps_xgrow(t->e_off, &t->e_cap, t->n_e, sizeof *t->e_off);
    t->e_len = ps_xgrow(t->e_len, &t->e_len_cap, t->n_e, sizeof *t->e_len);
    t->e_id = ps_xgrow(t->e_id, &t->e_id_cap, t->n_e, sizeof *t->e_id);
    t->arena = ps_xgrow(t->arena, &t->arena_cap, t->arena_len + len + 1, 1);
    memcpy(t->arena + t->arena_len, s, len);
    t->arena[t->arena_len + len] = '\0';
    t->e_off[k] = t->arena_len;
    t->e_len[k] = (uint32_t)len;
    t->e_id[k] = id;
    t->arena_len += len + 1;
    size_t j = (size_t)h & t->slot_mask;
    while (t->slots[j].e1)
        j = (j + 1) & t->slot_mask;
    t->slots[j].hash = (uint32_t)(h >> 32);
    t->slots[j].e1 = (uint32_t)k + 1;
    *inserted = 1;
    return (uint32_t)k;
}

enum vocab_add_result { VA_OK, VA_DUP_TOKEN, VA_DUP_ID };

/* Adds token s with id.  A repeated string keeps its first id for lookups
 * (the later id still decodes to it); a repeated id is refused. */
static enum vocab_add_result vocab_add(struct ps_tokenizer *t, const char *s, size_t len,
                                       int32_t id, int32_t *other_id)
{
    if ((size_t)id < t->id_index_cap && id < t->n_ids && t->id_index[id] >= 0) {
        *other_id = id;
        return VA_DUP_ID;
    }
    int inserted;
    uint32_t k = entry_intern(t, s, len, id, &inserted);
    if ((size_t)id >= t->id_index_cap) {
        size_t old = t->id_index_cap;
        t->id_index = ps_xgrow(t->id_index, &t->id_index_cap, (size_t)id + 1, sizeof *t->id_index);
        for (size_t i = old; i < t->id_index_cap; i++)
            t->id_index[i] = -1;
    }
    t->id_index[id] = (int32_t)k;
    if (id >= t->n_ids)
        t->n_ids = id + 1;
    if (!inserted) {
        *other_id = t->e_id[k];
        return VA_DUP_TOKEN;
    }
    return VA_OK;
}

/* Builds the id -> string tables once the vocabulary is complete. */
static void tok_finish(struct ps_tokenizer *t)
{
    free(t->tok);
    free(t->tok_len);
    free(t->is_added);
    size_t n = (size_t)t->n_ids + 1;
    t->tok = ps_xcalloc(n, sizeof *t->tok);
    t->tok_len = ps_xcalloc(n, sizeof *t->tok_len);
    t->is_added = ps_xcalloc(n, 1);
    t->max_tok_bytes = 0;
    for (int32_t id = 0; id < t->n_ids; id++) {
        if (t->id_index[id] < 0)
            continue;
        size_t e = (size_t)t->id_index[id], len = t->e_len[e];
        t->tok[id] = t->arena + t->e_off[e];
        t->tok_len[id] = (uint32_t)len;
        if (len > t->max_tok_bytes)
            t->max_tok_bytes = len;
    }
    for (size_t i = 0; i < t->n_added; i++)
        t->is_added[t->added[i].id] = 1;
}

/* Registers an added token (matched in text before anything else).  The
 * token joins the vocabulary if absent; an id taken by another string is
 * an error (returned as -1 with *other set). */
static int add_special(struct ps_tokenizer *t, const char *s, size_t len, int32_t id)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && memcmp(t->added[i].content, s, len) == 0)
            return 0;
    int32_t cur = ps__tok_find(t, s, len);
    if (id < 0)
        id = cur;
    if (id < 0)
        return 0; /* a special name that is not in the vocabulary */
    if (cur != id) {
        int32_t other;
        if (vocab_add(t, s, len, id, &other) == VA_DUP_ID)
            return -1;
    }
    t->added = ps_xrealloc(t->added, (t->n_added + 1) * sizeof *t->added);
    t->added[t->n_added].content = ps_xstrndup(s, len);
    t->added[t->n_added].len = len;
    t->added[t->n_added].id = id;
    t->n_added++;
    t->added_first[(unsigned char)s[0]] = 1;
    return 0;
}

static int cmp_added(const void *a, const void *b)
{
    const struct ps__added *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return memcmp(x->content, y->content, x->len);
}

/* ---- vocab.json -------------------------------------------------------- */

struct scan {
    const char *s;
    size_t len, pos;
    const char *name;     /* file name for messages */
    int line;             /* 1-based */
    size_t line_start;    /* byte offset of the current line */
};

static int scan_err(struct scan *c, struct ps_err *err, const char *what)
{
    return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d:%zu: %s", c->name, c->line,
                      c->pos - c->line_start + 1, what);
}

static void skip_ws(struct scan *c)
{
    while (c->pos < c->len) {
        char ch = c->s[c->pos];
        if (ch == '\n') {
            c->line++;
            c->line_start = c->pos + 1;
        } else if (ch != ' ' && ch != '\t' && ch != '\r') {
            break;
        }
        c->pos++;
    }
}

static int hex4(const char *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
              : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

/* Parses a JSON string at c->pos (which is at '"') into out. */
static int scan_string(struct scan *c, struct ps_buf *out, struct ps_err *err)
{
    ps_buf_reset(out);
    c->pos++;
    for (;;) {
        if (c->pos >= c->len)
            return scan_err(c, err, "unterminated string");
        unsigned char ch = (unsigned char)c->s[c->pos];
        if (ch == '"') {
            c->pos++;
            return PS_OK;
        }
        if (ch < 0x20)
            return scan_err(c, err, "control character in string");
        if (ch == '\\') {
            if (c->pos + 1 >= c->len)
                return scan_err(c, err, "unterminated string");
            char e = c->s[c->pos + 1];
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                static const char map[] = "\"\\/\b\f\n\r\t";
                ps_buf_putc(out, map[simple - "\"\\/bfnrt"]);
                c->pos += 2;
                continue;
            }
            if (e != 'u')
                return scan_err(c, err, "invalid escape in string");
            uint32_t cp, lo;
            if (c->pos + 6 > c->len || hex4(c->s + c->pos + 2, &cp))
                return scan_err(c, err, "invalid \\u escape in string");
            c->pos += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return scan_err(c, err, "unpaired surrogate in string");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (c->pos + 6 > c->len || c->s[c->pos] != '\\' || c->s[c->pos + 1] != 'u' ||
                    hex4(c->s + c->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return scan_err(c, err, "unpaired surrogate in string");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                c->pos += 6;
            }
            char u[4];
            ps_buf_append(out, u, ps__utf8_encode(cp, u));
            continue;
        }
        if (ch < 0x80) {
            ps_buf_putc(out, (char)ch);
            c->pos++;
            continue;
        }
        uint32_t cp;
        size_t n = ps__utf8_decode((const unsigned char *)c->s + c->pos, c->len - c->pos, &cp);
        if (n == 0)
            return scan_err(c, err, "invalid UTF-8");
        ps_buf_append(out, c->s + c->pos, n);
        c->pos += n;
    }
}

static int parse_vocab_json(struct ps_tokenizer *t, const char *name, const char *buf,
                            size_t len, struct ps_err *err)
{
    struct scan c = {buf, len, 0, name, 1, 0};
    struct ps_buf key, q;
    ps_buf_init(&key);
    ps_buf_init(&q);
    int rc = PS_OK;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        c.pos = 3;
    skip_ws(&c);
    if (c.pos >= len || buf[c.pos] != '{') {
        rc = scan_err(&c, err, "expected '{' (a JSON object of token ids)");
        goto done;
    }
    c.pos++;
    skip_ws(&c);
    if (c.pos < len && buf[c.pos] == '}') {
        c.pos++;
    } else {
        for (;;) {
            skip_ws(&c);
            if (c.pos >= len || buf[c.pos] != '"') {
                rc = scan_err(&c, err, "expected a token string");
                goto done;
            }
            int key_line = c.line;
            if ((rc = scan_string(&c, &key, err)))
                goto done;
            skip_ws(&c);
            if (c.pos >= len || buf[c.pos] != ':') {
                rc = scan_err(&c, err, "expected ':' after the token");
                goto done;
            }
            c.pos++;
            skip_ws(&c);
            size_t start = c.pos;
            long long id = 0;
            while (c.pos < len && buf[c.pos] >= '0' && buf[c.pos] <= '9') {
                if (id < PS__TOK_MAX_ID)
                    id = id * 10 + (buf[c.pos] - '0');
                c.pos++;
            }
            if (c.pos == start || (c.pos < len && strchr(".eE-+", buf[c.pos]) && buf[c.pos])) {
                c.pos = start;
                ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d:%zu: token %s: expected a non-negative integer id",
                           name, c.line, c.pos - c.line_start + 1, quote(&q, key.data, key.len));
                rc = PS_ERR_BAD_INPUT;
                goto done;
            }
            if (id >= PS__TOK_MAX_ID) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: token %s: id %.*s is too large (limit %d)",
                                name, c.line, quote(&q, key.data, key.len), (int)(c.pos - start),
                                buf + start, PS__TOK_MAX_ID - 1);
                goto done;
            }
            int32_t other;
            enum vocab_add_result r = vocab_add(t, key.data, key.len, (int32_t)id, &other);
            if (r == VA_DUP_TOKEN) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: duplicate token %s", name, key_line,
                                quote(&q, key.data, key.len));
                goto done;
            }
            if (r == VA_DUP_ID) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: token %s: id %lld is already used",
                                name, key_line, quote(&q, key.data, key.len), id);
                goto done;
            }
            skip_ws(&c);
            if (c.pos < len && buf[c.pos] == ',') {
                c.pos++;
                continue;
            }
            if (c.pos < len && buf[c.pos] == '}') {
                c.pos++;
                break;
            }
            rc = scan_err(&c, err, "expected ',' or '}'");
            goto done;
        }
    }
    skip_ws(&c);
    if (c.pos != len)
        rc = scan_err(&c, err, "unexpected data after the JSON object");
done:
    ps_buf_release(&key);
    ps_buf_release(&q);
    return rc;
}

/* ---- line-based files -------------------------------------------------- */

struct line_iter {
    const char *s;
    size_t len, pos;
    int line;
};

/* Next line without its "\n" or "\r\n"; 0 at the end. */
static int next_line(struct line_iter *it, const char **p, size_t *n)
{
    if (it->pos >= it->len)
        return 0;
    const char *start = it->s + it->pos;
    const char *nl = memchr(start, '\n', it->len - it->pos);
    size_t l = nl ? (size_t)(nl - start) : it->len - it->pos;
    it->pos += l + (nl ? 1 : 0);
    if (l > 0 && start[l - 1] == '\r')
        l--;
    it->line++;
    *p = start;
    *n = l;
    return 1;
}

static int merge_error(struct ps_tokenizer *t, const char *name, int line, const char *a,
                       size_t alen, const char *b, size_t blen, const char *missing,
                       size_t missing_len, struct ps_err *err)
{
    (void)t;
    struct ps_buf q;
    ps_buf_init(&q);
    if (missing) {
        ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: token %s is not in the vocabulary", name, line,
                   quote(&q, missing, missing_len));
    } else {
        char *ab = ps_xmalloc(alen + blen + 1);
        memcpy(ab, a, alen);
        memcpy(ab + alen, b, blen);
        ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: merged token %s is not in the vocabulary",
                   name, line, quote(&q, ab, alen + blen));
        free(ab);
    }
    ps_buf_release(&q);
    return PS_ERR_BAD_INPUT;
}

static int parse_merges_txt(struct ps_tokenizer *t, const char *name, const char *buf, size_t len,
                            struct ps_err *err)
{
    struct line_iter it = {buf, len, 0, 0};
    const char *p;
    size_t n;
    int32_t rank = 0;
    struct ps_buf q;
    ps_buf_init(&q);
    int rc = PS_OK;
    while (next_line(&it, &p, &n)) {
        if (it.line == 1 && n >= 8 && memcmp(p, "#version", 8) == 0)
            continue;
        if (n == 0)
            continue;
        long long bad = ps__utf8_check(p, n);
        if (bad >= 0) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: invalid UTF-8 at column %lld", name,
                            it.line, bad + 1);
            break;
        }
        const char *sp = memchr(p, ' ', n);
        if (!sp || sp == p || sp + 1 == p + n || memchr(sp + 1, ' ', (size_t)(p + n - sp - 1))) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                            "%s:%d: expected two tokens separated by one space, got %s", name,
                            it.line, quote(&q, p, n));
            break;
        }
        if (rank >= PS__TOK_MAX_ID) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: too many merges (limit %d)", name,
                            it.line, PS__TOK_MAX_ID);
            break;
        }
        const char *missing;
        size_t missing_len;
        size_t alen = (size_t)(sp - p), blen = n - alen - 1;
        if (ps__bpe_add_merge(t, p, alen, sp + 1, blen, rank, &missing, &missing_len)) {
            rc = merge_error(t, name, it.line, p, alen, sp + 1, blen, missing, missing_len, err);
            break;
        }
        rank++;
    }
    ps_buf_release(&q);
    return rc;
}

static int parse_vocab_txt(struct ps_tokenizer *t, const char *name, const char *buf, size_t len,
                           struct ps_err *err)
{
    struct line_iter it = {buf, len, 0, 0};
    const char *p;
    size_t n;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        it.pos = 3;
    while (next_line(&it, &p, &n)) {
        long long bad = ps__utf8_check(p, n);
        if (bad >= 0)
            return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: invalid UTF-8 at column %lld", name,
                              it.line, bad + 1);
        if (it.line > PS__TOK_MAX_ID)
            return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: too many tokens (limit %d)", name,
                              it.line, PS__TOK_MAX_ID);
        int32_t other;
        vocab_add(t, p, n, it.line - 1, &other); /* a repeated token keeps its first id */
    }
    if (t->n_ids == 0)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: the vocabulary is empty", name);
    return PS_OK;
}

/* ---- JSON configuration files ------------------------------------------ */

enum { SP_EOS, SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK, SP_BOS, SP_N };
static const char *const sp_keys[SP_N] = {"eos_token", "unk_token", "sep_token", "pad_token",
                                          "cls_token", "mask_token", "bos_token"};

struct cfg_token {
    char *content;
    int32_t id;       /* -1 = by name only */
};

struct cfg {
    char *sp[SP_N];           /* special token names, NULL = not given */
    int lower;                /* -1 = not given */
    int strip_accents;        /* -1 = null / not given */
    int cjk;                  /* -1 = not given */
    int prefix_space;         /* -1 = not given */
    struct cfg_token *extra;  /* added_tokens_decoder, additional_special_tokens */
    size_t n_extra;
};

static void cfg_init(struct cfg *c)
{
    memset(c, 0, sizeof *c);
    c->lower = c->strip_accents = c->cjk = c->prefix_space = -1;
}

static void cfg_release(struct cfg *c)
{
    for (int i = 0; i < SP_N; i++)
        free(c->sp[i]);
    for (size_t i = 0; i < c->n_extra; i++)
        free(c->extra[i].content);
    free(c->extra);
}

static void cfg_add_extra(struct cfg *c, const char *s, int32_t id)
{
    c->extra = ps_xrealloc(c->extra, (c->n_extra + 1) * sizeof *c->extra);
    c->extra[c->n_extra].content = ps_xstrdup(s);
    c->extra[c->n_extra].id = id;
    c->n_extra++;
}

static int load_json(const char *path, const char *buf, size_t len, size_t flags, json_t **out,
                     struct ps_err *err)
{
    json_error_t je;
    *out = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | flags, &je);
    if (!*out)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    return PS_OK;
}

/* A token given as "text" or {"content": "text", ...}; NULL if neither. */
static const char *token_content(json_t *v)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_object(v))
        return json_string_value(json_object_get(v, "content"));
    return NULL;
}

static int cfg_err(const char *path, const char *buf, size_t len, const char *key,
                   const char *what, struct ps_err *err)
{
    char needle[128];
    snprintf(needle, sizeof needle, "\"%s\"", key);
    int line = find_line(buf, len, needle, strlen(needle));
    if (line)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: \"%s\": %s", path, line, key, what);
    return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: \"%s\": %s", path, key, what);
}

static int cfg_bool(json_t *root, const char *key, int *out, int null_ok, const char *path,
                    const char *buf, size_t len, struct ps_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        return PS_OK;
    if (json_is_null(v) && null_ok) {
        *out = -1;
        return PS_OK;
    }
    if (!json_is_boolean(v))
        return cfg_err(path, buf, len, key, null_ok ? "expected true, false or null"
                                                    : "expected true or false", err);
    *out = json_is_true(v);
    return PS_OK;
}

/* Reads tokenizer_config.json or special_tokens_map.json if present;
 * values already in c win. */
static int read_cfg(const char *dir, const char *file, struct cfg *c, struct ps_err *err)
{
    char *path = join(dir, file), *buf = NULL;
    size_t len;
    json_t *root = NULL;
    int rc = PS_OK;
    if (!file_exists(path))
        goto done;
    if ((rc = read_file(path, &buf, &len, err)) || (rc = load_json(path, buf, len, JSON_DECODE_INT_AS_REAL, &root, err)))
        goto done;
    if (!json_is_object(root)) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: expected a JSON object", path);
        goto done;
    }
    for (int i = 0; i < SP_N; i++) {
        json_t *v = json_object_get(root, sp_keys[i]);
        if (!v || json_is_null(v) || c->sp[i])
            continue;
        const char *s = token_content(v);
        if (!s) {
            rc = cfg_err(path, buf, len, sp_keys[i], "expected a string or {\"content\": ...}", err);
            goto done;
        }
        c->sp[i] = ps_xstrdup(s);
    }
    int lower = c->lower, strip = c->strip_accents, cjk = c->cjk, ps = c->prefix_space;
    if ((rc = cfg_bool(root, "do_lower_case", &lower, 0, path, buf, len, err)) ||
        (rc = cfg_bool(root, "strip_accents", &strip, 1, path, buf, len, err)) ||
        (rc = cfg_bool(root, "tokenize_chinese_chars", &cjk, 0, path, buf, len, err)) ||
        (rc = cfg_bool(root, "add_prefix_space", &ps, 0, path, buf, len, err)))
        goto done;
    if (c->lower < 0)
        c->lower = lower;
    if (c->strip_accents < 0)
        c->strip_accents = strip;
    if (c->cjk < 0)
        c->cjk = cjk;
    if (c->prefix_space < 0)
        c->prefix_space = ps;
    json_t *dec = json_object_get(root, "added_tokens_decoder");
    if (dec && !json_is_null(dec)) {
        if (!json_is_object(dec)) {
            rc = cfg_err(path, buf, len, "added_tokens_decoder", "expected an object", err);
            goto done;
        }
        const char *k;
        json_t *v;
        json_object_foreach(dec, k, v) {
            char *end;
            errno = 0;
            long id = strtol(k, &end, 10);
            const char *s = token_content(v);
            if (errno || end == k || *end || id < 0 || id >= PS__TOK_MAX_ID || !s) {
                rc = cfg_err(path, buf, len, k, "expected an id key and {\"content\": ...}", err);
                goto done;
            }
            cfg_add_extra(c, s, (int32_t)id);
        }
    }
    json_t *add = json_object_get(root, "additional_special_tokens");
    if (json_is_array(add)) {
        size_t i;
        json_t *v;
        json_array_foreach(add, i, v) {
            const char *s = token_content(v);
            if (s)
                cfg_add_extra(c, s, -1);
        }
    }
done:
    json_decref(root);
    free(buf);
    free(path);
    return rc;
}

/* added_tokens.json (slow tokenizers' extra tokens): {"token": id, ...}. */
static int read_added_tokens_json(const char *dir, struct cfg *c, struct ps_err *err)
{
    char *path = join(dir, "added_tokens.json"), *buf = NULL;
    size_t len;
    json_t *root = NULL;
    int rc = PS_OK;
    if (!file_exists(path))
        goto done;
    if ((rc = read_file(path, &buf, &len, err)) || (rc = load_json(path, buf, len, 0, &root, err)))
        goto done;
    if (!json_is_object(root)) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: expected a JSON object of token ids", path);
        goto done;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= PS__TOK_MAX_ID) {
            rc = cfg_err(path, buf, len, k, "expected an integer id", err);
            goto done;
        }
        cfg_add_extra(c, k, (int32_t)json_integer_value(v));
    }
done:
    json_decref(root);
    free(buf);
    free(path);
    return rc;
}

static int32_t special_id(struct ps_tokenizer *t, const char *name)
{
    return name ? ps__tok_find(t, name, strlen(name)) : -1;
}

/* Registers the configured special tokens as added tokens and sets the
 * special ids (names not in the vocabulary give -1). */
static int apply_cfg_specials(struct ps_tokenizer *t, const struct cfg *c, const char *what,
                              struct ps_err *err)
{
    for (size_t i = 0; i < c->n_extra; i++)
        if (add_special(t, c->extra[i].content, strlen(c->extra[i].content), c->extra[i].id))
            return ps_err_set(err, PS_ERR_BAD_INPUT,
                              "%s: added token \"%s\": id %d is used by another token", what,
                              c->extra[i].content, (int)c->extra[i].id);
    for (int i = 0; i < SP_N; i++)
        if (c->sp[i])
            add_special(t, c->sp[i], strlen(c->sp[i]), -1);
    return PS_OK;
}

static void set_special_ids(struct ps_tokenizer *t, const struct cfg *c)
{
    if (t->kind == PS_TOKENIZER_BPE) {
        t->eos = special_id(t, c->sp[SP_EOS] ? c->sp[SP_EOS] : "<|endoftext|>");
    } else {
        t->eos = special_id(t, c->sp[SP_EOS]);
        t->cls = special_id(t, c->sp[SP_CLS] ? c->sp[SP_CLS] : "[CLS]");
        t->sep = special_id(t, c->sp[SP_SEP] ? c->sp[SP_SEP] : "[SEP]");
        t->mask = special_id(t, c->sp[SP_MASK] ? c->sp[SP_MASK] : "[MASK]");
    }
    t->pad = special_id(t, c->sp[SP_PAD] ? c->sp[SP_PAD]
                                         : t->kind == PS_TOKENIZER_WORDPIECE ? "[PAD]" : NULL);
    t->unk = special_id(t, c->sp[SP_UNK] ? c->sp[SP_UNK]
                                         : t->kind == PS_TOKENIZER_WORDPIECE ? "[UNK]" : NULL);
}

/* Sorts the added tokens and builds the lookup tables.  Refuses vocabularies
 * whose ids are mostly holes: tables are sized by the largest id, so a tiny
 * file with id 16,000,000 must not cost gigabytes. */
static int finish(struct ps_tokenizer *t, const char *what, struct ps_err *err)
{
    if ((size_t)t->n_ids > 2 * t->n_e + 65536)
        return ps_err_set(err, PS_ERR_BAD_INPUT,
                          "%s: ids are too sparse: largest id %d for %zu tokens", what,
                          (int)t->n_ids - 1, t->n_e);
    if (t->n_added)
        qsort(t->added, t->n_added, sizeof *t->added, cmp_added);
    tok_finish(t);
    if (t->kind == PS_TOKENIZER_BPE)
        ps__bpe_init_bytes(t);
    return PS_OK;
}

/* ---- loaders ----------------------------------------------------------- */

static int load_bpe(struct ps_tokenizer **out, const char *vocab_path, const char *merges_path,
                    const char *cfg_dir, struct ps_err *err)
{
    struct ps_tokenizer *t = tok_new(PS_TOKENIZER_BPE);
    char *buf = NULL;
    size_t len;
    struct cfg c;
    cfg_init(&c);
    int rc;
    if ((rc = read_file(vocab_path, &buf, &len, err)) ||
        (rc = parse_vocab_json(t, vocab_path, buf, len, err)))
        goto fail;
    free(buf);
    buf = NULL;
    if (t->n_ids == 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: the vocabulary is empty", vocab_path);
        goto fail;
    }
    if (cfg_dir && ((rc = read_cfg(cfg_dir, "tokenizer_config.json", &c, err)) ||
                    (rc = read_cfg(cfg_dir, "special_tokens_map.json", &c, err)) ||
                    (rc = read_added_tokens_json(cfg_dir, &c, err))))
        goto fail;
    add_special(t, "<|endoftext|>", 13, -1);
    if ((rc = apply_cfg_specials(t, &c, vocab_path, err)))
        goto fail;
    if ((rc = read_file(merges_path, &buf, &len, err)) ||
        (rc = parse_merges_txt(t, merges_path, buf, len, err)))
        goto fail;
    t->add_prefix_space = c.prefix_space > 0;
    set_special_ids(t, &c);
    if ((rc = finish(t, vocab_path, err)))
        goto fail;
    free(buf);
    cfg_release(&c);
    *out = t;
    return PS_OK;
fail:
    free(buf);
    cfg_release(&c);
    ps_tokenizer_free(t);
    return rc;
}

static int load_wordpiece_txt(struct ps_tokenizer **out, const char *vocab_path,
                              const char *cfg_dir, struct ps_err *err)
{
    struct ps_tokenizer *t = tok_new(PS_TOKENIZER_WORDPIECE);
    char *buf = NULL;
    size_t len;
    struct cfg c;
    cfg_init(&c);
    int rc;
    if ((rc = read_file(vocab_path, &buf, &len, err)) ||
        (rc = parse_vocab_txt(t, vocab_path, buf, len, err)))
        goto fail;
    if (cfg_dir && ((rc = read_cfg(cfg_dir, "tokenizer_config.json", &c, err)) ||
                    (rc = read_cfg(cfg_dir, "special_tokens_map.json", &c, err)) ||
                    (rc = read_added_tokens_json(cfg_dir, &c, err))))
        goto fail;
    static const char *const bert_names[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (size_t i = 0; i < 5; i++)
        add_special(t, bert_names[i], strlen(bert_names[i]), -1);
    if ((rc = apply_cfg_specials(t, &c, vocab_path, err)))
        goto fail;
    if (c.lower >= 0)
        t->lower = c.lower;
    t->strip_accents = c.strip_accents;
    if (c.cjk >= 0)
        t->cjk = c.cjk;
    set_special_ids(t, &c);
    if (t->unk < 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: unknown token \"%s\" is not in the vocabulary",
                        vocab_path, c.sp[SP_UNK] ? c.sp[SP_UNK] : "[UNK]");
        goto fail;
    }
    if ((rc = finish(t, vocab_path, err)))
        goto fail;
    free(buf);
    cfg_release(&c);
    *out = t;
    return PS_OK;
fail:
    free(buf);
    cfg_release(&c);
    ps_tokenizer_free(t);
    return rc;
}

/* tokenizer.json ----------------------------------------------------------- */

struct tj {
    const char *path;
    const char *buf;
    size_t len;
    struct ps_buf q;
};

/* An error about the JSON value at `where`, with the line of `needle` (a
 * string that appears in it) when it can be found. */
static int tj_err(struct tj *j, const char *needle, struct ps_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int tj_err(struct tj *j, const char *needle, struct ps_err *err, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 0;
    if (needle) {
        struct ps_buf b;
        ps_buf_init(&b);
        ps_buf_json_str(&b, needle, strlen(needle));
        line = find_line(j->buf, j->len, b.data, b.len);
        ps_buf_release(&b);
    }
    if (line)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: %s", j->path, line, msg);
    return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: %s", j->path, msg);
}

static const char *jtype(json_t *v)
{
    return json_string_value(json_object_get(v, "type"));
}

static int tj_vocab(struct ps_tokenizer *t, struct tj *j, json_t *model, struct ps_err *err)
{
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab))
        return tj_err(j, "vocab", err, "model.vocab: expected an object of token ids");
    const char *k;
    json_t *v;
    json_object_foreach(vocab, k, v) {
        size_t klen = strlen(k); /* JSON_ALLOW_NUL: a NUL inside is refused below */
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= PS__TOK_MAX_ID)
            return tj_err(j, k, err, "model.vocab: token %s: expected an integer id in 0..%d",
                          quote(&j->q, k, klen), PS__TOK_MAX_ID - 1);
        int32_t other;
        if (vocab_add(t, k, klen, (int32_t)json_integer_value(v), &other) == VA_DUP_ID)
            return tj_err(j, k, err, "model.vocab: token %s: id %d is already used",
                          quote(&j->q, k, klen), (int)other);
    }
    if (t->n_ids == 0)
        return tj_err(j, NULL, err, "model.vocab: the vocabulary is empty");
    return PS_OK;
}

static int tj_added(struct ps_tokenizer *t, struct tj *j, json_t *root, struct ps_err *err)
{
    json_t *added = json_object_get(root, "added_tokens");
    if (!added || json_is_null(added))
        return PS_OK;
    if (!json_is_array(added))
        return tj_err(j, "added_tokens", err, "added_tokens: expected an array");
    size_t i;
    json_t *v;
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        const char *s = json_string_value(json_object_get(v, "content"));
        if (!s || !json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= PS__TOK_MAX_ID)
            return tj_err(j, s, err, "added_tokens[%zu]: expected \"id\" and \"content\"", i);
        if (add_special(t, s, strlen(s), (int32_t)json_integer_value(id)))
            return tj_err(j, s, err, "added_tokens[%zu]: id %d is used by another token", i,
                          (int)json_integer_value(id));
    }
    return PS_OK;
}

static int tj_bpe(struct ps_tokenizer *t, struct tj *j, json_t *root, json_t *model,
                  struct ps_err *err)
{
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm))
        return ps_err_set(err, PS_ERR_UNSUPPORTED, "%s: normalizer \"%s\" is not supported for BPE",
                          j->path, jtype(norm) ? jtype(norm) : "?");
    json_t *pre = json_object_get(root, "pre_tokenizer");
    const char *pt = jtype(pre);
    if (!pt || strcmp(pt, "ByteLevel") != 0 || json_is_false(json_object_get(pre, "use_regex")))
        return ps_err_set(err, PS_ERR_UNSUPPORTED,
                          "%s: pre_tokenizer \"%s\" is not supported (only GPT-2's ByteLevel)",
                          j->path, pt ? pt : "null");
    t->add_prefix_space = json_is_true(json_object_get(pre, "add_prefix_space"));
    const char *cont = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    const char *suf = json_string_value(json_object_get(model, "end_of_word_suffix"));
    if ((cont && *cont) || (suf && *suf))
        return ps_err_set(err, PS_ERR_UNSUPPORTED,
                          "%s: BPE with a subword prefix or suffix is not supported", j->path);
    json_t *drop = json_object_get(model, "dropout");
    if (drop && !json_is_null(drop) && json_number_value(drop) != 0.0)
        return ps_err_set(err, PS_ERR_UNSUPPORTED, "%s: BPE dropout is not supported", j->path);
    int rc = tj_vocab(t, j, model, err);
    if (rc)
        return rc;
    add_special(t, "<|endoftext|>", 13, -1);
    if ((rc = tj_added(t, j, root, err)))
        return rc;
    json_t *merges = json_object_get(model, "merges");
    if (!json_is_array(merges))
        return tj_err(j, "merges", err, "model.merges: expected an array");
    size_t i;
    json_t *v;
    json_array_foreach(merges, i, v) {
        const char *a = NULL, *b = NULL, *needle = NULL;
        size_t alen = 0, blen = 0;
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            const char *sp = strchr(s, ' ');
            needle = s;
            if (sp && sp != s && sp[1] && !strchr(sp + 1, ' ')) {
                a = s;
                alen = (size_t)(sp - s);
                b = sp + 1;
                blen = strlen(b);
            }
        } else if (json_is_array(v) && json_array_size(v) == 2 &&
                   json_is_string(json_array_get(v, 0)) && json_is_string(json_array_get(v, 1))) {
            a = json_string_value(json_array_get(v, 0));
            b = json_string_value(json_array_get(v, 1));
            alen = strlen(a);
            blen = strlen(b);
            needle = a;
        }
        if (!a || !alen || !blen)
            return tj_err(j, needle, err, "model.merges[%zu]: expected \"A B\" or [\"A\", \"B\"]", i);
        if (i >= PS__TOK_MAX_ID)
            return tj_err(j, NULL, err, "model.merges: too many merges (limit %d)", PS__TOK_MAX_ID);
        const char *missing;
        size_t missing_len;
        if (ps__bpe_add_merge(t, a, alen, b, blen, (int32_t)i, &missing, &missing_len)) {
            if (missing)
                return tj_err(j, needle, err, "model.merges[%zu]: token %s is not in the vocabulary",
                              i, quote(&j->q, missing, missing_len));
            return tj_err(j, needle, err, "model.merges[%zu]: merged token is not in the vocabulary", i);
        }
    }
    return PS_OK;
}

static int tj_wordpiece(struct ps_tokenizer *t, struct tj *j, json_t *root, json_t *model,
                        struct ps_err *err)
{
    json_t *norm = json_object_get(root, "normalizer");
    const char *nt = jtype(norm);
    if (norm && !json_is_null(norm)) {
        if (!nt || strcmp(nt, "BertNormalizer") != 0)
            return ps_err_set(err, PS_ERR_UNSUPPORTED,
                              "%s: normalizer \"%s\" is not supported for WordPiece", j->path,
                              nt ? nt : "?");
        json_t *sa = json_object_get(norm, "strip_accents");
        t->clean = !json_is_false(json_object_get(norm, "clean_text"));
        t->cjk = !json_is_false(json_object_get(norm, "handle_chinese_chars"));
        t->lower = !json_is_false(json_object_get(norm, "lowercase"));
        t->strip_accents = json_is_boolean(sa) ? json_is_true(sa) : -1;
    } else {
        t->clean = t->cjk = t->lower = 0;
        t->strip_accents = 0;
    }
    json_t *pre = json_object_get(root, "pre_tokenizer");
    const char *pt = jtype(pre);
    if (!pt || strcmp(pt, "BertPreTokenizer") != 0)
        return ps_err_set(err, PS_ERR_UNSUPPORTED,
                          "%s: pre_tokenizer \"%s\" is not supported (only BertPreTokenizer)",
                          j->path, pt ? pt : "null");
    json_t *pfx = json_object_get(model, "continuing_subword_prefix");
    if (pfx && !json_is_null(pfx)) {
        const char *s = json_string_value(pfx);
        if (!s || strlen(s) >= sizeof t->prefix)
            return tj_err(j, "continuing_subword_prefix", err,
                          "model.continuing_subword_prefix: expected a string of at most %zu bytes",
                          sizeof t->prefix - 1);
        t->prefix_len = strlen(s);
        memcpy(t->prefix, s, t->prefix_len + 1);
    }
    json_t *mx = json_object_get(model, "max_input_chars_per_word");
    if (mx && !json_is_null(mx)) {
        if (!json_is_integer(mx) || json_integer_value(mx) < 1)
            return tj_err(j, "max_input_chars_per_word", err,
                          "model.max_input_chars_per_word: expected a positive integer");
        t->max_chars = (size_t)json_integer_value(mx);
    }
    int rc = tj_vocab(t, j, model, err);
    if (rc || (rc = tj_added(t, j, root, err)))
        return rc;
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    t->unk = special_id(t, unk ? unk : "[UNK]");
    if (t->unk < 0)
        return tj_err(j, "unk_token", err, "model.unk_token \"%s\" is not in the vocabulary",
                      unk ? unk : "[UNK]");
    /* [CLS] and [SEP] from the post-processor when it names them. */
    json_t *post = json_object_get(root, "post_processor");
    const char *ppt = jtype(post);
    if (ppt && strcmp(ppt, "BertProcessing") == 0) {
        json_t *cls = json_object_get(post, "cls"), *sep = json_object_get(post, "sep");
        if (json_is_array(cls) && json_is_integer(json_array_get(cls, 1)))
            t->cls = (int32_t)json_integer_value(json_array_get(cls, 1));
        if (json_is_array(sep) && json_is_integer(json_array_get(sep, 1)))
            t->sep = (int32_t)json_integer_value(json_array_get(sep, 1));
    } else if (ppt && strcmp(ppt, "TemplateProcessing") == 0) {
        json_t *single = json_object_get(post, "single"), *sts = json_object_get(post, "special_tokens");
        size_t n = json_array_size(single);
        for (size_t k = 0; k < n; k += n > 1 ? n - 1 : 1) {
            json_t *st = json_object_get(json_array_get(single, k), "SpecialToken");
            const char *name = json_string_value(json_object_get(st, "id"));
            json_t *ids = json_object_get(json_object_get(sts, name ? name : ""), "ids");
            if (name && json_is_integer(json_array_get(ids, 0))) {
                int32_t id = (int32_t)json_integer_value(json_array_get(ids, 0));
                if (k == 0)
                    t->cls = id;
                else
                    t->sep = id;
            }
        }
    }
    return PS_OK;
}

static int load_tokenizer_json(struct ps_tokenizer **out, const char *path, const char *cfg_dir,
                               struct ps_err *err)
{
    char *buf = NULL;
    size_t len;
    json_t *root = NULL;
    struct ps_tokenizer *t = NULL;
    struct cfg c;
    cfg_init(&c);
    struct tj j = {path, NULL, 0, {0}};
    ps_buf_init(&j.q);
    int rc;
    if ((rc = read_file(path, &buf, &len, err)) || (rc = load_json(path, buf, len, 0, &root, err)))
        goto done;
    j.buf = buf;
    j.len = len;
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) {
        rc = tj_err(&j, "model", err, "missing \"model\" object");
        goto done;
    }
    const char *type = jtype(model);
    if (!type)
        type = json_object_get(model, "merges") ? "BPE" : "WordPiece";
    if (strcmp(type, "BPE") == 0) {
        t = tok_new(PS_TOKENIZER_BPE);
        rc = tj_bpe(t, &j, root, model, err);
    } else if (strcmp(type, "WordPiece") == 0) {
        t = tok_new(PS_TOKENIZER_WORDPIECE);
        rc = tj_wordpiece(t, &j, root, model, err);
    } else {
        rc = ps_err_set(err, PS_ERR_UNSUPPORTED, "%s: model type \"%s\" is not supported (BPE, WordPiece)",
                        path, type);
    }
    if (rc)
        goto done;
    if (cfg_dir && ((rc = read_cfg(cfg_dir, "tokenizer_config.json", &c, err)) ||
                    (rc = read_cfg(cfg_dir, "special_tokens_map.json", &c, err))))
        goto done;
    {
        int32_t unk = t->unk, cls = t->cls, sep = t->sep;
        set_special_ids(t, &c);
        if (t->kind == PS_TOKENIZER_WORDPIECE) {
            t->unk = unk;
            if (cls >= 0)
                t->cls = cls;
            if (sep >= 0)
                t->sep = sep;
        } else if (!c.sp[SP_UNK]) {
            t->unk = -1;
        }
    }
    if ((t->cls >= 0 && (t->cls >= t->n_ids || t->id_index[t->cls] < 0)) ||
        (t->sep >= 0 && (t->sep >= t->n_ids || t->id_index[t->sep] < 0))) {
        rc = tj_err(&j, "post_processor", err, "post_processor: special token id out of range");
        goto done;
    }
    if ((rc = finish(t, path, err)))
        goto done;
    *out = t;
    t = NULL;
done:
    ps_tokenizer_free(t);
    json_decref(root);
    free(buf);
    ps_buf_release(&j.q);
    cfg_release(&c);
    return rc;
}

int ps_tokenizer_load_bpe_files(struct ps_tokenizer **out, const char *vocab_path,
                                const char *merges_path, struct ps_err *err)
{
    *out = NULL;
    if (!vocab_path || !merges_path)
        return ps_err_set(err, PS_ERR_USAGE, "a vocabulary and a merges file are both needed");
    return load_bpe(out, vocab_path, merges_path, NULL, err);
}

int ps_tokenizer_load_file(struct ps_tokenizer **out, const char *path, struct ps_err *err)
{
    *out = NULL;
    return load_tokenizer_json(out, path, NULL, err);
}

int ps_tokenizer_load(struct ps_tokenizer **out, const char *dir, struct ps_err *err)
{
    *out = NULL;
    static const char *const vocab_names[] = {"vocab.json", "encoder.json"};
    static const char *const merges_names[] = {"merges.txt", "vocab.bpe"};
    int rc = PS_ERR_IO;
    for (int i = 0; i < 2; i++) {
        char *v = join(dir, vocab_names[i]), *m = join(dir, merges_names[i]);
        int found = file_exists(v) && file_exists(m);
        if (found)
            rc = load_bpe(out, v, m, dir, err);
        free(v);
        free(m);
        if (found)
            return rc;
    }
    char *p = join(dir, "vocab.txt");
    if (file_exists(p)) {
        rc = load_wordpiece_txt(out, p, dir, err);
        free(p);
        return rc;
    }
    free(p);
    p = join(dir, "tokenizer.json");
    if (file_exists(p)) {
        rc = load_tokenizer_json(out, p, dir, err);
        free(p);
        return rc;
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) != 0)
        return ps_err_set(err, PS_ERR_IO, "cannot open '%s': %s", dir, strerror(errno));
    return ps_err_set(err, PS_ERR_IO,
                      "no tokenizer in '%s' (expected vocab.json + merges.txt, vocab.txt or "
                      "tokenizer.json)", dir);
}

/* ---- encode / decode --------------------------------------------------- */

enum ps_tokenizer_kind ps_tokenizer_kind(const struct ps_tokenizer *t)
{
    return t->kind;
}

int32_t ps_tokenizer_vocab_size(const struct ps_tokenizer *t)
{
    return t->n_ids;
}

static int encode_segment(const struct ps_tokenizer *t, const char *s, size_t len, size_t limit,
                          struct ps__ids *out, struct ps_err *err)
{
    if (len == 0 || (limit && out->n >= limit))
        return PS_OK;
    return t->kind == PS_TOKENIZER_BPE ? ps__bpe_encode(t, s, len, limit, out, err)
                                       : ps__wp_encode(t, s, len, limit, out, err);
}

int ps_tokenizer_encode(const struct ps_tokenizer *t, const char *text, size_t len,
                        size_t max_tokens, int32_t **ids, size_t *n_ids, struct ps_err *err)
{
    *ids = NULL;
    *n_ids = 0;
    if (!t || (!text && len))
        return ps_err_set(err, PS_ERR_USAGE, "no tokenizer or no text");
    if (len > PS__TOK_MAX_TEXT)
        return ps_err_set(err, PS_ERR_TOO_BIG, "text of %zu bytes is too long to tokenize", len);
    long long bad = ps__utf8_check(text, len);
    if (bad >= 0)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "invalid UTF-8 at byte %lld", bad);
    int wrap = t->kind == PS_TOKENIZER_WORDPIECE && t->cls >= 0 && t->sep >= 0;
    if (wrap && max_tokens == 1)
        return ps_err_set(err, PS_ERR_USAGE, "max_tokens must be at least 2 for [CLS] and [SEP]");
    /* Tokens come out left to right, so truncation can stop early: the
     * first `limit` ids of the full encoding are the same. */
    size_t limit = max_tokens ? (wrap ? max_tokens - 1 : max_tokens) : 0;
    struct ps__ids out = {0};
    int rc = PS_OK;
    if (wrap)
        ps__ids_push(&out, t->cls);
    size_t seg = 0, i = 0;
    const unsigned char *s = (const unsigned char *)text;
    while (i < len && rc == PS_OK && !(limit && out.n >= limit)) {
        if (!t->added_first[s[i]]) {
            i++;
            continue;
        }
        const struct ps__added *hit = NULL;
        for (size_t k = 0; k < t->n_added; k++) {
            const struct ps__added *a = &t->added[k];
            if (a->len <= len - i && memcmp(text + i, a->content, a->len) == 0) {
                hit = a;
                break;
            }
        }
        if (!hit) {
            i++;
            continue;
        }
        rc = encode_segment(t, text + seg, i - seg, limit, &out, err);
        if (rc == PS_OK && !(limit && out.n >= limit))
            ps__ids_push(&out, hit->id);
        i += hit->len;
        seg = i;
    }
    if (rc == PS_OK && seg < len)
        rc = encode_segment(t, text + seg, len - seg, limit, &out, err);
    if (rc) {
        free(out.v);
        return rc;
    }
    if (limit && out.n > limit)
        out.n = limit;
    if (wrap)
        ps__ids_push(&out, t->sep);
    if (!out.v)
        out.v = ps_xmalloc(sizeof *out.v);
    *ids = out.v;
    *n_ids = out.n;
    return PS_OK;
}

int ps_tokenizer_decode(const struct ps_tokenizer *t, const int32_t *ids, size_t n_ids,
                        char **text, struct ps_err *err)
{
    return ps_tokenizer_decode_n(t, ids, n_ids, text, NULL, err);
}

int ps_tokenizer_decode_n(const struct ps_tokenizer *t, const int32_t *ids, size_t n_ids,
                          char **text, size_t *len, struct ps_err *err)
{
    *text = NULL;
    if (len)
        *len = 0;
    struct ps_buf b;
    ps_buf_init(&b);
    int rc = t->kind == PS_TOKENIZER_BPE ? ps__bpe_decode(t, ids, n_ids, &b, err)
                                         : ps__wp_decode(t, ids, n_ids, &b, err);
    if (rc) {
        ps_buf_release(&b);
        return rc;
    }
    *text = b.data;
    if (len)
        *len = b.len;
    return PS_OK;
}

const char *ps_tokenizer_token(const struct ps_tokenizer *t, int32_t id)
{
    if (id < 0 || id >= t->n_ids)
        return NULL;
    return t->tok[id];
}

const char *ps_tokenizer_token_bytes(const struct ps_tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_ids || !t->tok[id]) {
        *len = 0;
        return NULL;
    }
    if (t->kind == PS_TOKENIZER_BPE) {
        *len = t->bytes_len[id];
        return t->bytes + t->bytes_off[id];
    }
    *len = t->tok_len[id];
    return t->tok[id];
}

int32_t ps_tokenizer_find(const struct ps_tokenizer *t, const char *token, size_t len)
{
    return ps__tok_find(t, token, len);
}

int32_t ps_tokenizer_eos_id(const struct ps_tokenizer *t) { return t->eos; }
int32_t ps_tokenizer_cls_id(const struct ps_tokenizer *t) { return t->cls; }
int32_t ps_tokenizer_sep_id(const struct ps_tokenizer *t) { return t->sep; }
int32_t ps_tokenizer_pad_id(const struct ps_tokenizer *t) { return t->pad; }
int32_t ps_tokenizer_unk_id(const struct ps_tokenizer *t) { return t->unk; }
int32_t ps_tokenizer_mask_id(const struct ps_tokenizer *t) { return t->mask; }
