/*
 * config.c - the INI-like configuration of `persona run` (config.h,
 * docs/config.md).  Whole file in memory; a few hundred entries at most.
 */
#include "persona/config.h"
#include "persona/core.h"
#include "persona/hash.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (1 << 20)

struct entry {
    char *section, *key, *value;
    int line;
    int used;
};

struct sect {
    char *name;
    int line;
};

/* Sections whose lines are kept verbatim (not parsed as key = value). */
static const char *const RAW_SECTIONS[] = {"tags", NULL};

struct ps_config {
    char *name, *dir;
    struct ps_buf raw[1];     /* per RAW_SECTIONS entry: the file's lines, blank outside it */
    int has_raw[1];
    struct entry *e;
    size_t n, cap;
    struct sect *s;
    size_t n_s, cap_s;
};

static char *trim(char *a, char *b)
{
    while (a < b && isspace((unsigned char)*a))
        a++;
    while (b > a && isspace((unsigned char)b[-1]))
        b--;
    *b = '\0';
    return a;
}

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
            return 0;
    return 1;
}

int ps_config_parse(struct ps_config **out, const char *name, const char *text,
                    struct ps_err *err)
{
    struct ps_config *c = ps_xcalloc(1, sizeof *c);
    c->name = ps_xstrdup(name);
    const char *slash = strrchr(name, '/');
    c->dir = slash ? ps_xstrndup(name, (size_t)(slash - name) + (slash == name)) : ps_xstrdup(".");
    char *buf = ps_xstrdup(text), *p = buf, *section = NULL;
    int line = 0, rc = PS_OK, raw = -1;
    for (int i = 0; RAW_SECTIONS[i]; i++)
        ps_buf_init(&c->raw[i]);
    *out = NULL;
    if (strncmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (*p) {
        line++;
        char *eol = strchr(p, '\n'), *next = eol ? eol + 1 : p + strlen(p);
        char *end = eol ? eol : p + strlen(p);
        if (end > p && end[-1] == '\r')
            end--;
        char *l = trim(p, end);
        char *rawline = p;
        size_t rawlen = (size_t)(end - p);
        p = next;
        for (int i = 0; RAW_SECTIONS[i]; i++) {
            /* Keep line numbers: every line of the file is one line here. */
            if (i == raw && *l != '[')
                ps_buf_append(&c->raw[i], rawline, rawlen);
            ps_buf_putc(&c->raw[i], '\n');
        }
        if (raw >= 0 && *l != '[')
            continue;
        if (!*l || *l == '#' || *l == ';')
            continue;
        if (*l == '[') {
            char *close = strchr(l, ']');
            const char *after = close ? close + 1 : NULL;
            while (after && isspace((unsigned char)*after))
                after++;
            if (!close || (*after && *after != '#' && *after != ';')) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: expected \"[section]\", got \"%s\"",
                                name, line, l);
                goto done;
            }
            *close = '\0';
            char *sn = trim(l + 1, close);
            if (!valid_name(sn)) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: bad section name \"%s\"", name, line, sn);
                goto done;
            }
            for (size_t i = 0; i < c->n_s; i++)
                if (strcmp(c->s[i].name, sn) == 0) {
                    rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: section [%s] repeated (first at line %d)",
                                    name, line, sn, c->s[i].line);
                    goto done;
                }
            c->s = ps_xgrow(c->s, &c->cap_s, c->n_s + 1, sizeof *c->s);
            c->s[c->n_s].name = ps_xstrdup(sn);
            c->s[c->n_s].line = line;
            section = c->s[c->n_s++].name;
            raw = -1;
            for (int i = 0; RAW_SECTIONS[i]; i++)
                if (strcmp(sn, RAW_SECTIONS[i]) == 0) {
                    raw = i;
                    c->has_raw[i] = 1;
                }
            continue;
        }
        char *eq = strchr(l, '=');
        if (!eq) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: expected \"key = value\", got \"%s\"", name, line, l);
            goto done;
        }
        *eq = '\0';
        char *key = trim(l, eq), *val = eq + 1;
        while (*val && isspace((unsigned char)*val))
            val++;
        if (!valid_name(key)) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: bad key \"%s\"", name, line, key);
            goto done;
        }
        if (!section) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: key \"%s\" before any [section]", name, line, key);
            goto done;
        }
        if (*val == '"') {
            char *q = strchr(val + 1, '"');
            if (!q) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: key \"%s\": unterminated quote", name, line, key);
                goto done;
            }
            char *rest = q + 1;
            while (*rest && isspace((unsigned char)*rest))
                rest++;
            if (*rest && *rest != '#' && *rest != ';') {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: key \"%s\": text after the closing quote",
                                name, line, key);
                goto done;
            }
            *q = '\0';
            val++;
        } else {
            /* A comment after a value needs a space before it. */
            for (char *h = val; *h; h++)
                if ((*h == '#' || *h == ';') && h > val && isspace((unsigned char)h[-1])) {
                    *h = '\0';
                    break;
                }
            val = trim(val, val + strlen(val));
        }
        for (size_t i = 0; i < c->n; i++)
            if (strcmp(c->e[i].section, section) == 0 && strcmp(c->e[i].key, key) == 0) {
                rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: key \"%s\" repeated in [%s] (first at line %d)",
                                name, line, key, section, c->e[i].line);
                goto done;
            }
        c->e = ps_xgrow(c->e, &c->cap, c->n + 1, sizeof *c->e);
        c->e[c->n].section = section;
        c->e[c->n].key = ps_xstrdup(key);
        c->e[c->n].value = ps_xstrdup(val);
        c->e[c->n].line = line;
        c->e[c->n].used = 0;
        c->n++;
    }
done:
    free(buf);
    if (rc) {
        ps_config_free(c);
        return rc;
    }
    *out = c;
    return PS_OK;
}

int ps_config_load(struct ps_config **out, const char *path, struct ps_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ps_err_set(err, PS_ERR_IO, "cannot open \"%s\": %s", path, strerror(errno));
    struct ps_buf b;
    ps_buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        ps_buf_append(&b, chunk, n);
        if (b.len > CONFIG_MAX_BYTES) {
            fclose(f);
            ps_buf_release(&b);
            return ps_err_set(err, PS_ERR_TOO_BIG, "%s: config larger than %d bytes", path, CONFIG_MAX_BYTES);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        ps_buf_release(&b);
        return ps_err_set(err, PS_ERR_IO, "cannot read \"%s\"", path);
    }
    if (memchr(b.data, '\0', b.len)) {
        ps_buf_release(&b);
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s: NUL byte in config", path);
    }
    int rc = ps_config_parse(out, path, b.data ? b.data : "", err);
    ps_buf_release(&b);
    return rc;
}

void ps_config_free(struct ps_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].key);
        free(c->e[i].value);
    }
    for (size_t i = 0; i < c->n_s; i++)
        free(c->s[i].name);
    for (int i = 0; RAW_SECTIONS[i]; i++)
        ps_buf_release(&c->raw[i]);
    free(c->e);
    free(c->s);
    free(c->name);
    free(c->dir);
    free(c);
}

const char *ps_config_name(const struct ps_config *c) { return c->name; }
const char *ps_config_dir(const struct ps_config *c) { return c->dir; }

const char *ps_config_raw(const struct ps_config *c, const char *section)
{
    for (int i = 0; RAW_SECTIONS[i]; i++)
        if (strcmp(section, RAW_SECTIONS[i]) == 0)
            return c->has_raw[i] ? c->raw[i].data : NULL;
    return NULL;
}

int ps_config_has_section(const struct ps_config *c, const char *section)
{
    for (size_t i = 0; i < c->n_s; i++)
        if (strcmp(c->s[i].name, section) == 0)
            return 1;
    return 0;
}

static struct entry *find(const struct ps_config *c, const char *section, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].section, section) == 0 && strcmp(c->e[i].key, key) == 0)
            return &c->e[i];
    return NULL;
}

const char *ps_config_get(struct ps_config *c, const char *section, const char *key)
{
    struct entry *e = find(c, section, key);
    if (!e)
        return NULL;
    e->used = 1;
    return e->value;
}

int ps_config_str(struct ps_config *c, const char *section, const char *key,
                  const char **out, struct ps_err *err)
{
    (void)err;
    const char *v = ps_config_get(c, section, key);
    if (v)
        *out = v;
    return PS_OK;
}

int ps_config_long(struct ps_config *c, const char *section, const char *key,
                   long min, long max, long *out, struct ps_err *err)
{
    struct entry *e = find(c, section, key);
    if (!e)
        return PS_OK;
    e->used = 1;
    char *end;
    errno = 0;
    long v = strtol(e->value, &end, 10);
    if (!*e->value || *end || errno)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: [%s] %s: expected an integer, got \"%s\"",
                          c->name, e->line, section, key, e->value);
    if (v < min || v > max)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: [%s] %s: %ld is out of range %ld..%ld",
                          c->name, e->line, section, key, v, min, max);
    *out = v;
    return PS_OK;
}

int ps_config_double(struct ps_config *c, const char *section, const char *key,
                     double min, double max, double *out, struct ps_err *err)
{
    struct entry *e = find(c, section, key);
    if (!e)
        return PS_OK;
    e->used = 1;
    char *end;
    errno = 0;
    double v = strtod(e->value, &end);
    if (!*e->value || *end || errno || !isfinite(v))
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: [%s] %s: expected a number, got \"%s\"",
                          c->name, e->line, section, key, e->value);
    if (v < min || v > max)
        return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: [%s] %s: %g is out of range %g..%g",
                          c->name, e->line, section, key, v, min, max);
    *out = v;
    return PS_OK;
}

int ps_config_bool(struct ps_config *c, const char *section, const char *key,
                   int *out, struct ps_err *err)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    struct entry *e = find(c, section, key);
    if (!e)
        return PS_OK;
    e->used = 1;
    for (int i = 0; yes[i]; i++)
        if (strcmp(e->value, yes[i]) == 0) {
            *out = 1;
            return PS_OK;
        }
    for (int i = 0; no[i]; i++)
        if (strcmp(e->value, no[i]) == 0) {
            *out = 0;
            return PS_OK;
        }
    return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: [%s] %s: expected true or false, got \"%s\"",
                      c->name, e->line, section, key, e->value);
}

int ps_config_choice(struct ps_config *c, const char *section, const char *key,
                     const char *const *choices, int *out, struct ps_err *err)
{
    struct entry *e = find(c, section, key);
    if (!e)
        return PS_OK;
    e->used = 1;
    struct ps_buf b;
    ps_buf_init(&b);
    for (int i = 0; choices[i]; i++) {
        if (strcmp(e->value, choices[i]) == 0) {
            ps_buf_release(&b);
            *out = i;
            return PS_OK;
        }
        ps_buf_printf(&b, "%s%s", i ? ", " : "", choices[i]);
    }
    int rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: [%s] %s: \"%s\" is not one of %s",
                        c->name, e->line, section, key, e->value, b.data);
    ps_buf_release(&b);
    return rc;
}

int ps_config_value_error(const struct ps_config *c, const char *section, const char *key,
                         struct ps_err *err, int status, const char *fmt, ...)
{
    char msg[PS_ERR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const struct entry *e = find(c, section, key);
    if (e)
        return ps_err_set(err, status, "%s:%d: [%s] %s: %s", c->name, e->line, section, key, msg);
    return ps_err_set(err, status, "%s: [%s] %s: %s", c->name, section, key, msg);
}

int ps_config_check_unused(const struct ps_config *c, const char *const *known_sections,
                           struct ps_err *err)
{
    for (size_t i = 0; i < c->n; i++)
        if (!c->e[i].used)
            return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: unknown key \"%s\" in section [%s]",
                              c->name, c->e[i].line, c->e[i].key, c->e[i].section);
    for (size_t i = 0; i < c->n_s; i++) {
        int known = 0;
        for (int j = 0; known_sections && known_sections[j]; j++)
            known |= strcmp(known_sections[j], c->s[i].name) == 0;
        if (!known)
            return ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%d: unknown section [%s]",
                              c->name, c->s[i].line, c->s[i].name);
    }
    return PS_OK;
}

uint64_t ps_config_section_hash(const struct ps_config *c, const char *section)
{
    uint64_t h = ps_hash64(section, strlen(section), 0x5eed);
    const char *r = ps_config_raw(c, section);
    if (r)
        h = ps_hash64(r, strlen(r), h);
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->e[i].section, section) != 0)
            continue;
        h = ps_hash64(c->e[i].key, strlen(c->e[i].key) + 1, h);
        h = ps_hash64(c->e[i].value, strlen(c->e[i].value) + 1, h);
    }
    return h;
}
