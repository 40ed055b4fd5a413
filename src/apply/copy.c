/*
 * copy.c - prompt templates over an allow-list of profile fields, and
 * personalised messages from a GPT-2 model (include/persona/copy.h).
 *
 * A template is parsed once into pieces (literal text or a field); filling
 * concatenates them, so a prompt can hold nothing but the template's own
 * text and allowed field values.  Generation reuses ps_lm_generate with a
 * per-user seed; one context of the model's full length is allocated once.
 */
#include "persona/copy.h"

#include "persona/hash.h"
#include "persona/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEMPLATE_BYTES (64 * 1024)

static const char *const field_names[PS_COPY_N_FIELDS] = {
    "segment_name", "top_category", "top_categories", "recommended_items", "top_item",
    "rfm_tier",     "lifecycle",    "price_sensitivity", "topic_words",
};

/* Names that identify or describe a person: refused with their own
 * message, so a template author learns why and not just "unknown". */
static const char *const personal_names[] = {
    "user_id", "user", "id", "uid", "customer_id", "name", "first_name", "last_name",
    "full_name", "username", "nickname", "email", "mail", "phone", "mobile", "tel",
    "address", "street", "city", "province", "state", "country", "zip", "postcode",
    "postal_code", "age", "gender", "sex", "birthday", "birth_date", "dob", "signup_ts",
    "ip", "device_id", "attributes",
};

const char *ps_copy_field_name(enum ps_copy_field f)
{
    return (unsigned)f < PS_COPY_N_FIELDS ? field_names[f] : "?";
}

int ps_copy_field_find(const char *name, size_t len)
{
    for (int i = 0; i < PS_COPY_N_FIELDS; i++)
        if (strlen(field_names[i]) == len && memcmp(field_names[i], name, len) == 0)
            return i;
    return -1;
}

static int is_personal(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof personal_names / sizeof *personal_names; i++)
        if (strlen(personal_names[i]) == len && memcmp(personal_names[i], name, len) == 0)
            return 1;
    /* "attributes.city", "attribute_gender", ... */
    return len >= 9 && memcmp(name, "attribute", 9) == 0;
}

/* ---- fields ------------------------------------------------------------- */

void ps_copy_fields_init(struct ps_copy_fields *f)
{
    memset(f, 0, sizeof *f);
}

void ps_copy_fields_release(struct ps_copy_fields *f)
{
    for (int i = 0; i < PS_COPY_N_FIELDS; i++)
        free(f->v[i]);
    memset(f, 0, sizeof *f);
}

void ps_copy_fields_set(struct ps_copy_fields *f, enum ps_copy_field field, const char *value)
{
    PS_ASSERT((unsigned)field < PS_COPY_N_FIELDS);
    free(f->v[field]);
    f->v[field] = value ? ps_xstrdup(value) : NULL;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int ps_copy_fields_from_profile(struct ps_copy_fields *f, const char *profile_json,
                                int n_topic_words, struct ps_err *err)
{
    json_error_t je;
    json_t *d = json_loads(profile_json, 0, &je);
    ps_copy_fields_release(f);
    if (!d)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "profile JSON:%d:%d: %s", je.line, je.column,
                          je.text);
    if (!json_is_object(d)) {
        json_decref(d);
        return ps_err_set(err, PS_ERR_BAD_INPUT, "profile JSON is not an object");
    }
    ps_copy_fields_set(f, PS_COPY_SEGMENT_NAME, jstr(json_object_get(d, "segment"), "name"));
    ps_copy_fields_set(f, PS_COPY_RFM_TIER, jstr(json_object_get(d, "rfm"), "tier"));
    ps_copy_fields_set(f, PS_COPY_LIFECYCLE, jstr(d, "lifecycle"));
    ps_copy_fields_set(f, PS_COPY_PRICE_SENSITIVITY, jstr(d, "price_sensitivity"));

    json_t *feat = json_object_get(d, "features");
    struct ps_buf b;
    ps_buf_init(&b);
    for (int k = 1; k <= 3; k++) {
        char key[32];
        snprintf(key, sizeof key, "top_category_%d", k);
        const char *c = jstr(feat, key);
        if (!c || !*c)
            continue;
        if (b.len)
            ps_buf_append(&b, ", ", 2);
        else
            ps_copy_fields_set(f, PS_COPY_TOP_CATEGORY, c);
        ps_buf_append(&b, c, strlen(c));
    }
    ps_buf_putc(&b, '\0');
    ps_copy_fields_set(f, PS_COPY_TOP_CATEGORIES, b.len > 1 ? b.data : NULL);

    ps_buf_reset(&b);
    json_t *topics = json_object_get(d, "topics");
    json_t *words = json_is_array(topics) && json_array_size(topics) > 0
                        ? json_object_get(json_array_get(topics, 0), "words")
                        : NULL;
    size_t n_words = json_is_array(words) ? json_array_size(words) : 0;
    if (n_topic_words > 0 && n_words > (size_t)n_topic_words)
        n_words = (size_t)n_topic_words;
    for (size_t i = 0; i < n_words; i++) {
        json_t *w = json_array_get(words, i);
        if (!json_is_string(w))
            continue;
        if (b.len)
            ps_buf_putc(&b, ' ');
        ps_buf_append(&b, json_string_value(w), json_string_length(w));
    }
    ps_buf_putc(&b, '\0');
    ps_copy_fields_set(f, PS_COPY_TOPIC_WORDS, b.len > 1 ? b.data : NULL);
    ps_buf_release(&b);
    json_decref(d);
    return PS_OK;
}

/* ---- templates ---------------------------------------------------------- */

struct piece {
    int field;        /* -1 = literal */
    size_t off, len;  /* literal bytes in text */
};

struct ps_copy_template {
    char *text;       /* literal bytes (escapes resolved); owned */
    struct piece *pieces;
    size_t n_pieces, cap;
};

static void add_piece(struct ps_copy_template *t, int field, size_t off, size_t len)
{
    if (field < 0 && len == 0)
        return;
    if (field < 0 && t->n_pieces && t->pieces[t->n_pieces - 1].field < 0 &&
        t->pieces[t->n_pieces - 1].off + t->pieces[t->n_pieces - 1].len == off) {
        t->pieces[t->n_pieces - 1].len += len;
        return;
    }
    t->pieces = ps_xgrow(t->pieces, &t->cap, t->n_pieces + 1, sizeof *t->pieces);
    t->pieces[t->n_pieces++] = (struct piece){field, off, len};
}

static void allowed_list(char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < PS_COPY_N_FIELDS && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", field_names[i]);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int ps_copy_template_parse(struct ps_copy_template **out, const char *text, size_t len,
                           const char *display_name, struct ps_err *err)
{
    const char *name = display_name ? display_name : "<template>";
    *out = NULL;
    /* Line and column of the trimmed text's positions are counted from
     * the untrimmed start, so messages point into the file as written. */
    size_t begin = 0, end = len;
    while (begin < end && is_space(text[begin]))
        begin++;
    while (end > begin && is_space(text[end - 1]))
        end--;
    if (begin == end)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: template is empty", name);
    if (memchr(text + begin, '\0', end - begin))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: template contains a NUL byte", name);

    struct ps_copy_template *t = ps_xcalloc(1, sizeof *t);
    t->text = ps_xmalloc(end - begin + 1);
    size_t n_text = 0, lit_start = 0;
    long line = 1, col = 1;
    for (size_t i = 0; i < begin; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    int rc = PS_OK;
    for (size_t i = begin; i < end;) {
        char c = text[i];
        if (c == '{' && i + 1 < end && text[i + 1] == '{') {
            t->text[n_text++] = '{';
            i += 2;
            col += 2;
            continue;
        }
        if (c == '}' && i + 1 < end && text[i + 1] == '}') {
            t->text[n_text++] = '}';
            i += 2;
            col += 2;
            continue;
        }
        if (c == '}') {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                            "%s:%ld:%ld: unmatched \"}\" (write \"}}\" for a literal brace)", name,
                            line, col);
            goto fail;
        }
        if (c == '{') {
            size_t j = i + 1;
            while (j < end && text[j] != '}' && text[j] != '{' && text[j] != '\n')
                j++;
            if (j >= end || text[j] != '}') {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                                "%s:%ld:%ld: unclosed \"{\" (write \"{{\" for a literal brace)",
                                name, line, col);
                goto fail;
            }
            /* The name inside, without surrounding blanks. */
            size_t a = i + 1, b = j;
            while (a < b && (text[a] == ' ' || text[a] == '\t'))
                a++;
            while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t'))
                b--;
            if (a == b) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld:%ld: empty placeholder \"%.*s\"",
                                name, line, col, (int)(j + 1 - i), text + i);
                goto fail;
            }
            int field = ps_copy_field_find(text + a, b - a);
            if (field < 0) {
                if (is_personal(text + a, b - a)) {
                    rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                                    "%s:%ld:%ld: field \"%.*s\" is personal data and never "
                                    "enters a prompt",
                                    name, line, col, (int)(b - a), text + a);
                } else {
                    char allowed[256];
                    allowed_list(allowed, sizeof allowed);
                    rc = ps_err_set(err, PS_ERR_BAD_INPUT,
                                    "%s:%ld:%ld: unknown field \"%.*s\" (allowed: %s)", name, line,
                                    col, (int)(b - a > 64 ? 64 : b - a), text + a, allowed);
                }
                goto fail;
            }
            add_piece(t, -1, lit_start, n_text - lit_start);
            add_piece(t, field, 0, 0);
            lit_start = n_text;
            col += (long)(j + 1 - i);
            i = j + 1;
            continue;
        }
        t->text[n_text++] = c;
        if (c == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
        i++;
    }
    add_piece(t, -1, lit_start, n_text - lit_start);
    t->text[n_text] = '\0';
    *out = t;
    return PS_OK;
fail:
    ps_copy_template_free(t);
    return rc;
}

int ps_copy_template_load(struct ps_copy_template **out, const char *path, struct ps_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ps_err_set(err, PS_ERR_IO, "cannot open template \"%s\"", path);
    char *buf = ps_xmalloc(MAX_TEMPLATE_BYTES + 1);
    size_t n = fread(buf, 1, MAX_TEMPLATE_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    int rc;
    if (bad)
        rc = ps_err_set(err, PS_ERR_IO, "cannot read template \"%s\"", path);
    else if (n > MAX_TEMPLATE_BYTES)
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: template is over %d bytes", path,
                        MAX_TEMPLATE_BYTES);
    else
        rc = ps_copy_template_parse(out, buf, n, path, err);
    free(buf);
    return rc;
}

void ps_copy_template_free(struct ps_copy_template *t)
{
    if (!t)
        return;
    free(t->text);
    free(t->pieces);
    free(t);
}

int ps_copy_template_uses(const struct ps_copy_template *t, enum ps_copy_field field)
{
    for (size_t i = 0; i < t->n_pieces; i++)
        if (t->pieces[i].field == (int)field)
            return 1;
    return 0;
}

void ps_copy_template_fill(const struct ps_copy_template *t, const struct ps_copy_fields *f,
                           struct ps_buf *out)
{
    for (size_t i = 0; i < t->n_pieces; i++) {
        const struct piece *p = &t->pieces[i];
        if (p->field < 0) {
            ps_buf_append(out, t->text + p->off, p->len);
        } else {
            const char *v = f->v[p->field];
            if (v)
                ps_buf_append(out, v, strlen(v));
        }
    }
}

int ps_copy_prompt_check(const char *prompt, size_t len, const char *user_id,
                         struct ps_err *err)
{
    size_t n = strlen(user_id);
    if (n == 0 || n > len)
        return PS_OK;
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(prompt + i, user_id, n) == 0)
            return ps_err_set(err, PS_ERR_BAD_INPUT,
                              "prompt for a user contains the user's id; refusing");
    return PS_OK;
}

uint64_t ps_copy_user_seed(uint64_t seed, const char *user_id)
{
    return ps_hash64(user_id, strlen(user_id), seed);
}

/* ---- generation ------------------------------------------------------- */

struct ps_copy_gen {
    struct ps_lm *m;
    struct ps_tokenizer *tok;
    struct ps_lm_ctx **ctx;   /* [n_workers] */
    int n_workers;
    struct ps_lm_gen_params gp;
    int n_ctx;
    int32_t eos_id;
    const char *const *stops; /* borrowed */
    int n_stops;
};

void ps_copy_gen_set_stops(struct ps_copy_gen *g, const char *const *stops, int n_stops)
{
    g->stops = stops;
    g->n_stops = n_stops;
}

struct stop_ctx {
    const struct ps_copy_gen *g;
    size_t cut;      /* bytes of the text before the earliest stop string */
    int hit;
};

/* Decodes the new tokens and stops at the first stop string. */
static int check_stop(const int32_t *ids, size_t n, void *ud)
{
    struct stop_ctx *s = ud;
    char *text = NULL;
    struct ps_err err = {0};
    if (ps_tokenizer_decode(s->g->tok, ids, n, &text, &err))
        return 0;
    for (int k = 0; k < s->g->n_stops; k++) {
        const char *hit = strstr(text, s->g->stops[k]);
        if (hit && (!s->hit || (size_t)(hit - text) < s->cut)) {
            s->cut = (size_t)(hit - text);
            s->hit = 1;
        }
    }
    free(text);
    return s->hit;
}

int ps_copy_gen_new(struct ps_copy_gen **out, const char *model_dir,
                    const struct ps_lm_gen_params *gp, int n_workers, struct ps_err *err)
{
    *out = NULL;
    PS_ASSERT(n_workers >= 1);
    struct ps_copy_gen *g = ps_xcalloc(1, sizeof *g);
    g->ctx = ps_xcalloc((size_t)n_workers, sizeof *g->ctx);
    g->n_workers = n_workers;
    g->gp = *gp;
    int rc = ps_sampler_check(&gp->sampler, err);
    if (rc)
        goto fail;
    if ((rc = ps_lm_load(&g->m, model_dir, err)) || (rc = ps_tokenizer_load(&g->tok, model_dir, err)))
        goto fail;
    const struct ps_lm_config *cfg = ps_lm_get_config(g->m);
    if (cfg->arch != PS_LM_GPT2) {
        rc = ps_err_set(err, PS_ERR_USAGE,
                        "%s: copy needs a GPT-2 checkpoint, this is BERT", model_dir);
        goto fail;
    }
    g->n_ctx = cfg->n_ctx;
    g->eos_id = cfg->eos_id;
    if (gp->max_new < 1 || gp->max_new >= cfg->n_ctx) {
        rc = ps_err_set(err, PS_ERR_USAGE,
                        "max-new %d leaves no room for a prompt in the model's context of %d",
                        gp->max_new, cfg->n_ctx);
        goto fail;
    }
    struct ps_lm_ctx_params cp = ps_lm_ctx_default_params();
    cp.max_batch = 1;
    cp.max_tokens = cfg->n_ctx;
    cp.kv_cache = 1;
    cp.logits = 1;
    /* Parallel over users, not inside a forward pass: each context runs on
     * its caller's thread (pool NULL), which also sets BLAS to one thread. */
    cp.pool = NULL;
    for (int w = 0; w < n_workers; w++)
        if ((rc = ps_lm_ctx_new(&g->ctx[w], g->m, &cp, err)))
            goto fail;
    *out = g;
    return PS_OK;
fail:
    ps_copy_gen_free(g);
    return rc;
}

void ps_copy_gen_free(struct ps_copy_gen *g)
{
    if (!g)
        return;
    for (int w = 0; w < g->n_workers; w++)
        ps_lm_ctx_free(g->ctx[w]);
    free(g->ctx);
    ps_tokenizer_free(g->tok);
    ps_lm_free(g->m);
    free(g);
}

int ps_copy_gen_n_workers(const struct ps_copy_gen *g)
{
    return g->n_workers;
}

int ps_copy_generate(struct ps_copy_gen *g, int worker, const char *prompt, size_t len,
                     uint64_t seed, char **message, int32_t **new_ids, size_t *n_new,
                     int *truncated, struct ps_err *err)
{
    PS_ASSERT(worker >= 0 && worker < g->n_workers);
    int32_t *ids = NULL, *out = NULL;
    size_t n_ids = 0, n_out = 0;
    *message = NULL;
    if (new_ids)
        *new_ids = NULL;
    if (n_new)
        *n_new = 0;
    if (truncated)
        *truncated = 0;
    int rc = ps_tokenizer_encode(g->tok, prompt, len, 0, &ids, &n_ids, err);
    if (rc)
        goto done;
    if (n_ids == 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "prompt is empty");
        goto done;
    }
    /* Keep the end of an over-long prompt: a template's instruction is
     * usually its last line. */
    size_t room = (size_t)(g->n_ctx - g->gp.max_new), skip = 0;
    if (n_ids > room) {
        skip = n_ids - room;
        if (truncated)
            *truncated = 1;
    }
    struct ps_lm_gen_params gp = g->gp;
    gp.sampler.seed = seed;
    struct stop_ctx sc = {g, 0, 0};
    if ((rc = ps_lm_generate(g->ctx[worker], ids + skip, n_ids - skip, &gp,
                             g->n_stops ? check_stop : NULL, &sc, &out, &n_out, NULL, err)))
        goto done;
    size_t n_text = n_out;
    if (gp.stop_at_eos && n_text && out[n_text - 1] == g->eos_id)
        n_text--;
    if ((rc = ps_tokenizer_decode(g->tok, out, n_text, message, err)))
        goto done;
    if (sc.hit && sc.cut < strlen(*message))
        (*message)[sc.cut] = '\0';
    if (new_ids) {
        *new_ids = out;
        out = NULL;
    }
    if (n_new)
        *n_new = n_out;
done:
    free(ids);
    free(out);
    return rc;
}
