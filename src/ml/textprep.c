/*
 * textprep.c - texts to topic-model words (see include/persona/textprep.h).
 *
 * Pipeline per text: utf8proc NFKC + case fold -> split into Han runs and
 * word runs -> Han runs through friso (zh_words.c) -> filters (stopwords,
 * numbers, minimum length) -> callback.  The stopword lists are plain
 * files shipped in data/stopwords, so users can edit them.
 */
#include "persona/textprep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#include "persona/core.h"
#include "persona/hash.h"
#include "zh_words.h"

struct ps_textprep {
    struct ps_textprep_params p;
    char *stopwords_dir;            /* resolved folder, owned */
    struct ps_strmap *stop;         /* stopwords in use */
    struct ps__zh_dict *zh;         /* NULL for PS_LANG_EN */
};

struct ps_textprep_worker {
    struct ps_textprep *tp;         /* borrowed */
    struct ps__zh_task *zh;         /* NULL for PS_LANG_EN */
    ps_word_fn fn;                  /* current callback */
    void *ud;
    char *word;                     /* scratch for one word */
    size_t word_cap;
};

struct ps_textprep_params ps_textprep_default_params(void)
{
    struct ps_textprep_params p;
    memset(&p, 0, sizeof p);
    p.lang = PS_LANG_AUTO;
    p.min_word_len = 2;
    p.min_han_len = 1;
    p.keep_numbers = 0;
    p.use_stopwords = 1;
    return p;
}

int ps_lang_parse(const char *s, enum ps_lang *out)
{
    if (strcmp(s, "auto") == 0) *out = PS_LANG_AUTO;
    else if (strcmp(s, "zh") == 0) *out = PS_LANG_ZH;
    else if (strcmp(s, "en") == 0) *out = PS_LANG_EN;
    else return -1;
    return 0;
}

const char *ps_lang_name(enum ps_lang lang)
{
    switch (lang) {
    case PS_LANG_ZH: return "zh";
    case PS_LANG_EN: return "en";
    default: return "auto";
    }
}

int ps_is_han(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FA1F) ||
           (c >= 0x30000 && c <= 0x3134F);
}

static int dir_has_lists(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%.4000s/en.txt", dir);
    return access(path, R_OK) == 0;
}

/* Finds the stopword folder: explicit, $PERSONA_DATA, next to the
 * executable (build/persona -> data/), then the current directory. */
static char *find_stopwords_dir(const char *given)
{
    if (given)
        return ps_xstrdup(given);
    char buf[4096];
    const char *env = getenv("PERSONA_DATA");
    if (env && *env) {
        snprintf(buf, sizeof buf, "%s/stopwords", env);
        if (dir_has_lists(buf))
            return ps_xstrdup(buf);
    }
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 64);
    if (n > 0) {
        buf[n] = '\0';
        char *slash = strrchr(buf, '/');
        if (slash) {
            strcpy(slash, "/../data/stopwords");
            if (dir_has_lists(buf))
                return ps_xstrdup(buf);
            strcpy(slash, "/../share/persona/stopwords");
            if (dir_has_lists(buf))
                return ps_xstrdup(buf);
        }
    }
    return ps_xstrdup("data/stopwords");
}

static int load_list(struct ps_strmap *m, const char *dir, const char *name, struct ps_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%.4000s/%.100s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return ps_err_set(err, PS_ERR_IO, "cannot open stopword list '%s': %s\n"
                          "hint: set PERSONA_DATA to the folder holding stopwords/",
                          path, strerror(errno));
    char line[1024];
    long lineno = 0;
    int rc = PS_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: line too long", path, lineno);
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t'))
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        if (utf8proc_decompose((const utf8proc_uint8_t *)line, (utf8proc_ssize_t)n, NULL, 0, 0) < 0) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: invalid UTF-8", path, lineno);
            break;
        }
        ps_strmap_intern(m, line, n, NULL);
    }
    fclose(f);
    return rc;
}

int ps_textprep_new(struct ps_textprep **out, const struct ps_textprep_params *p,
                    struct ps_err *err)
{
    *out = NULL;
    if (p->min_word_len < 1 || p->min_han_len < 1)
        return ps_err_set(err, PS_ERR_USAGE, "minimum word length must be at least 1");
    struct ps_textprep *tp = ps_xcalloc(1, sizeof *tp);
    tp->p = *p;
    tp->p.stopwords_dir = NULL;
    tp->p.friso_ini = NULL;
    tp->stop = ps_strmap_new();
    int rc = PS_OK;
    if (p->use_stopwords) {
        tp->stopwords_dir = find_stopwords_dir(p->stopwords_dir);
        rc = load_list(tp->stop, tp->stopwords_dir, "en.txt", err);
        if (rc == PS_OK && p->lang != PS_LANG_EN)
            rc = load_list(tp->stop, tp->stopwords_dir, "zh.txt", err);
    }
    if (rc == PS_OK && p->lang != PS_LANG_EN)
        rc = ps__zh_dict_load(&tp->zh, p->friso_ini, err);
    if (rc != PS_OK) {
        ps_textprep_free(tp);
        return rc;
    }
    *out = tp;
    return PS_OK;
}

void ps_textprep_free(struct ps_textprep *tp)
{
    if (!tp)
        return;
    ps_strmap_free(tp->stop);
    ps__zh_dict_free(tp->zh);
    free(tp->stopwords_dir);
    free(tp);
}

const struct ps_textprep_params *ps_textprep_params(const struct ps_textprep *tp)
{
    return &tp->p;
}

int ps_textprep_is_stopword(const struct ps_textprep *tp, const char *word, size_t len)
{
    return ps_strmap_find(tp->stop, word, len) >= 0;
}

struct ps_textprep_worker *ps_textprep_worker_new(struct ps_textprep *tp)
{
    struct ps_textprep_worker *w = ps_xcalloc(1, sizeof *w);
    w->tp = tp;
    if (tp->zh)
        w->zh = ps__zh_task_new(tp->zh);
    return w;
}

void ps_textprep_worker_free(struct ps_textprep_worker *w)
{
    if (!w)
        return;
    ps__zh_task_free(w->zh);
    free(w->word);
    free(w);
}

/* Copies a word into the worker's scratch (NUL-terminated) and emits it. */
static void emit(struct ps_textprep_worker *w, const char *s, size_t n)
{
    w->word = ps_xgrow(w->word, &w->word_cap, n + 1, 1);
    memcpy(w->word, s, n);
    w->word[n] = '\0';
    w->fn(w->word, n, w->ud);
}

static size_t count_cps(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* A Han word from the segmenter: filter and emit. */
static void han_word(const char *s, size_t n, void *ud)
{
    struct ps_textprep_worker *w = ud;
    if (count_cps(s, n) < (size_t)w->tp->p.min_han_len)
        return;
    if (ps_textprep_is_stopword(w->tp, s, n))
        return;
    emit(w, s, n);
}

/* A run of letters/digits: filter and emit. */
static void plain_word(struct ps_textprep_worker *w, const char *s, size_t n, int all_digits)
{
    /* Trailing apostrophes are punctuation ("users'"). */
    while (n && s[n - 1] == '\'')
        n--;
    if (n == 0)
        return;
    if (all_digits && !w->tp->p.keep_numbers)
        return;
    if (count_cps(s, n) < (size_t)w->tp->p.min_word_len)
        return;
    if (ps_textprep_is_stopword(w->tp, s, n))
        return;
    emit(w, s, n);
}

static int is_wordish(utf8proc_int32_t c, int *digit)
{
    utf8proc_category_t cat = utf8proc_category(c);
    *digit = cat == UTF8PROC_CATEGORY_ND;
    switch (cat) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

int ps_textprep_words(struct ps_textprep_worker *w, const char *text, size_t len,
                      ps_word_fn fn, void *ud, struct ps_err *err)
{
    utf8proc_uint8_t *norm = NULL;
    utf8proc_ssize_t nn = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len,
                                       &norm, UTF8PROC_STABLE | UTF8PROC_COMPAT |
                                       UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD |
                                       UTF8PROC_IGNORE);
    if (nn < 0) {
        /* Find the offending byte for the message. */
        size_t off = 0;
        while (off < len) {
            utf8proc_int32_t c;
            utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + off,
                                                  (utf8proc_ssize_t)(len - off), &c);
            if (k <= 0)
                break;
            off += (size_t)k;
        }
        free(norm);
        return ps_err_set(err, PS_ERR_BAD_INPUT, "invalid UTF-8 at byte %zu", off);
    }
    w->fn = fn;
    w->ud = ud;
    const char *s = (const char *)norm;
    size_t n = (size_t)nn, i = 0;
    enum { NONE, HAN, WORD } run = NONE;
    size_t start = 0;
    int all_digits = 1;
    while (i <= n) {
        utf8proc_int32_t c = -1;
        utf8proc_ssize_t k = 1;
        if (i < n)
            k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) {
            c = -1;
            k = 1;
        }
        int digit = 0;
        int han = c >= 0 && ps_is_han((uint32_t)c);
        int word = !han && c >= 0 && is_wordish(c, &digit);
        /* An apostrophe inside a word run stays in the word ("don't"). */
        int apos = run == WORD && (c == '\'' || c == 0x2019);
        int kind = han ? HAN : (word || apos) ? WORD : NONE;
        if (kind != (int)run) {
            if (run == HAN && w->zh)
                ps__zh_cut(w->zh, s + start, i - start, han_word, w);
            else if (run == WORD)
                plain_word(w, s + start, i - start, all_digits);
            run = kind;
            start = i;
            all_digits = 1;
        }
        if (kind == WORD) {
            if (c == 0x2019) {
                /* Normalise the typographic apostrophe to ASCII in place. */
                norm[i] = '\'';
                memmove(norm + i + 1, norm + i + k, n - i - (size_t)k);
                n -= (size_t)k - 1;
                k = 1;
            }
            if (!digit)
                all_digits = 0;
        }
        i += (size_t)k;
    }
    free(norm);
    return PS_OK;
}

static void raw_emit(const char *s, size_t n, void *ud)
{
    emit(ud, s, n);
}

void ps_zh_words_cut(struct ps_textprep_worker *w, const char *han, size_t len,
                     ps_word_fn fn, void *ud)
{
    if (!w->zh)
        return;
    w->fn = fn;
    w->ud = ud;
    ps__zh_cut(w->zh, han, len, raw_emit, w);
}
