/*
 * tagrule.c - tag rules (tagrule.h): a lexer, a recursive-descent parser
 * into an AST, a binder that resolves fields and checks types against a
 * table view, and a column-oriented evaluator.
 *
 * The evaluator walks the AST once per chunk of CHUNK rows: each node
 * writes a vector (double, byte or string pointer per row) that its
 * parent combines, so the cost per row is a few array passes per node,
 * not a tree walk per row.  Population statistics are constants computed
 * before the walk by selection (no sort) on one copy per column they use.
 *
 * Recursion is bounded twice: parentheses and unary operators nest at
 * most TR_MAX_NEST deep (the parser's own recursion), and every AST is at
 * most TR_MAX_DEPTH deep (long `a or b or c ...` chains), so binding,
 * evaluation and freeing cannot exhaust the stack on hostile input.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "persona/core.h"
#include "persona/reader.h"
#include "persona/tagrule.h"

#define TR_MAX_FILE ((size_t)4 << 20)
#define TR_MAX_RULES 10000
#define TR_MAX_NEST 64
#define TR_MAX_DEPTH 256
#define TR_MAX_IDENT 128
#define TR_MAX_STRING 4096
#define TR_MAX_NUMBER 64
#define TR_MAX_LIST 1000
#define CHUNK 2048

/* ---- AST ---------------------------------------------------------------- */

enum node_kind {
    N_NUM, N_STR, N_BOOL, N_FIELD,
    N_NEG, N_ARITH, N_CMP, N_AND, N_OR, N_NOT, N_IN, N_STAT, N_MISSING
};
enum arith_op { A_ADD, A_SUB, A_MUL, A_DIV };
enum cmp_op { C_LT, C_LE, C_GT, C_GE, C_EQ, C_NE };
enum stat_fn { S_PCT, S_MEDIAN, S_MEAN, S_MIN, S_MAX };
enum val_type { V_NUM, V_STR, V_BOOL };

static const char *const arith_sym[] = { "+", "-", "*", "/" };
static const char *const cmp_sym[] = { "<", "<=", ">", ">=", "==", "!=" };
static const char *const type_name[] = { "a number", "a string", "a condition" };

struct node {
    uint8_t kind;           /* enum node_kind */
    uint8_t op;             /* arith_op, cmp_op, stat_fn; N_IN: 1 = "not in" */
    int line, col;          /* where the node starts (operators: the operator) */
    int id;                 /* index into per-evaluation arrays */
    int depth;              /* height of this subtree (leaf = 1) */
    double num;             /* N_NUM value, N_BOOL 0/1, N_STAT percentile q */
    char *str;              /* N_STR literal, N_FIELD name (owned) */
    struct node *a, *b;     /* operands; N_STAT / N_MISSING: a = argument */
    struct node **items;    /* N_IN literal list (owned) */
    int n_items;
};

struct rule {
    char *name;             /* owned */
    int line, col;          /* of the name */
    int expr_line, expr_col;
    struct node *root;
};

struct ps_tagrules {
    char *filename;         /* owned copy, for bind messages */
    struct rule *rules;
    int n_rules;
    size_t cap_rules;
    int n_nodes;
};

static void node_free(struct node *n)
{
    if (!n) return;
    node_free(n->a);
    node_free(n->b);
    for (int i = 0; i < n->n_items; i++) node_free(n->items[i]);
    free(n->items);
    free(n->str);
    free(n);
}

void ps_tagrules_free(struct ps_tagrules *rs)
{
    if (!rs) return;
    for (int i = 0; i < rs->n_rules; i++) {
        free(rs->rules[i].name);
        node_free(rs->rules[i].root);
    }
    free(rs->rules);
    free(rs->filename);
    free(rs);
}

int ps_tagrules_count(const struct ps_tagrules *rs) { return rs ? rs->n_rules : 0; }

const char *ps_tagrules_name(const struct ps_tagrules *rs, int i)
{
    return rs && i >= 0 && i < rs->n_rules ? rs->rules[i].name : NULL;
}

int ps_tagrules_line(const struct ps_tagrules *rs, int i)
{
    return rs && i >= 0 && i < rs->n_rules ? rs->rules[i].line : 0;
}

int ps_tagrules_find(const struct ps_tagrules *rs, const char *name)
{
    if (!rs || !name) return -1;
    for (int i = 0; i < rs->n_rules; i++)
        if (strcmp(rs->rules[i].name, name) == 0) return i;
    return -1;
}

/* ---- lexer -------------------------------------------------------------- */

enum tok {
    T_EOF, T_NL, T_IDENT, T_NUM, T_STR, T_LP, T_RP, T_COMMA, T_ASSIGN,
    T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_PLUS, T_MINUS, T_STAR, T_SLASH
};

struct token {
    enum tok kind;
    size_t off, len;        /* source extent */
    int line, col;
    int quoted;             /* T_IDENT written as `name` (never a keyword) */
    double num;             /* T_NUM */
    /* T_IDENT / T_STR text: in parser.text (valid until the next lex) */
};

struct parser {
    const char *src;
    size_t len, pos;
    const char *filename;
    int line;
    size_t line_start;
    size_t cc_off;          /* column cache: offset and its column */
    int cc_col;
    int parens;             /* open '(' : newlines inside are spaces */
    int nest;               /* parser recursion through '(' and unary ops */
    struct token tok;
    struct ps_buf text;
    struct ps_tagrules *rs;
    struct ps_err *err;
};

/* Column (1-based, in code points) of offset off on the current line. */
static int col_at(struct parser *p, size_t off)
{
    if (p->cc_off < p->line_start || p->cc_off > off) {
        p->cc_off = p->line_start;
        p->cc_col = 1;
    }
    for (; p->cc_off < off; p->cc_off++)
        if (((unsigned char)p->src[p->cc_off] & 0xC0) != 0x80) p->cc_col++;
    return p->cc_col;
}

static int perr_at(struct parser *p, int line, int col, int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int perr_at(struct parser *p, int line, int col, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ps_err_set(p->err, status, "%s:%d:%d: %s", p->filename, line, col, msg);
}

#define PERR_OFF(p, off, st, ...) perr_at((p), (p)->line, col_at((p), (off)), (st), __VA_ARGS__)
#define PERR_TOK(p, st, ...) perr_at((p), (p)->tok.line, (p)->tok.col, (st), __VA_ARGS__)

/* Copies at most 40 bytes of s[0..n) into out for a message, cut at a
 * code-point boundary, with "..." when cut. */
static void excerpt(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = n;
    if (k > 40) {
        k = 40;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    }
    if (k + 4 > cap) k = 0;
    memcpy(out, s, k);
    strcpy(out + k, k < n ? "..." : "");
}

/* "'x'", "end of line", "end of file", "string \"...\"" for messages. */
static const char *tok_desc(struct parser *p, char *buf, size_t cap)
{
    char ex[64];
    switch (p->tok.kind) {
    case T_EOF: return "end of file";
    case T_NL: return "end of line";
    case T_STR: excerpt(p->src + p->tok.off, p->tok.len, ex, sizeof ex);
                snprintf(buf, cap, "string %s", ex); return buf;
    default: excerpt(p->src + p->tok.off, p->tok.len, ex, sizeof ex);
             snprintf(buf, cap, "'%s'", ex); return buf;
    }
}

static int is_ident_cp(int32_t cp, int first)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_' ||
               (!first && cp >= '0' && cp <= '9');
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return 1;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return !first;
    default:
        return 0;
    }
}

/* Decodes the code point at p->pos (the file is valid UTF-8). */
static int32_t cp_at(const struct parser *p, size_t off, size_t *n)
{
    int32_t cp = -1;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)p->src + off,
                                          (utf8proc_ssize_t)(p->len - off), &cp);
    *n = k > 0 ? (size_t)k : 1;
    return cp;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int lex_string(struct parser *p)
{
    const char *s = p->src;
    char q = s[p->pos];
    size_t start = p->pos, i = p->pos + 1;
    ps_buf_reset(&p->text);
    for (;;) {
        if (i >= p->len || s[i] == '\n')
            return PERR_OFF(p, start, PS_ERR_BAD_INPUT, "unterminated string");
        char c = s[i];
        if (c == q) { i++; break; }
        if (c != '\\') {
            ps_buf_putc(&p->text, c);
            i++;
        } else {
            size_t esc = i;
            char e = i + 1 < p->len ? s[i + 1] : '\0';
            i += 2;
            switch (e) {
            case '\\': ps_buf_putc(&p->text, '\\'); break;
            case '"': ps_buf_putc(&p->text, '"'); break;
            case '\'': ps_buf_putc(&p->text, '\''); break;
            case 'n': ps_buf_putc(&p->text, '\n'); break;
            case 't': ps_buf_putc(&p->text, '\t'); break;
            case 'r': ps_buf_putc(&p->text, '\r'); break;
            case 'u': {
                int32_t cp = 0;
                int nd = 0, braced = i < p->len && s[i] == '{';
                if (braced) i++;
                while (i < p->len && nd < (braced ? 7 : 4) && hexval((unsigned char)s[i]) >= 0) {
                    cp = cp * 16 + hexval((unsigned char)s[i]);
                    i++;
                    nd++;
                }
                if (braced ? (nd == 0 || nd > 6 || i >= p->len || s[i] != '}') : nd != 4)
                    return PERR_OFF(p, esc, PS_ERR_BAD_INPUT,
                                    "invalid escape: expected %s after '\\u'",
                                    braced ? "1 to 6 hex digits and '}'" : "4 hex digits");
                if (braced) i++;
                if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                    return PERR_OFF(p, esc, PS_ERR_BAD_INPUT,
                                    "invalid code point U+%04X in escape", (unsigned)cp);
                utf8proc_uint8_t enc[4];
                utf8proc_ssize_t n = utf8proc_encode_char(cp, enc);
                ps_buf_append(&p->text, enc, (size_t)n);
                break;
            }
            default: {
                char ex[64];
                size_t n = 0;
                if (esc + 1 < p->len && s[esc + 1] != '\n') cp_at(p, esc + 1, &n);
                excerpt(s + esc, n + 1, ex, sizeof ex);
                return PERR_OFF(p, esc, PS_ERR_BAD_INPUT, "unknown escape sequence '%s'", ex);
            }
            }
        }
        if (p->text.len > TR_MAX_STRING)
            return PERR_OFF(p, start, PS_ERR_TOO_BIG, "string literal longer than %d bytes",
                            TR_MAX_STRING);
    }
    p->tok.kind = T_STR;
    p->tok.len = i - start;
    p->pos = i;
    return PS_OK;
}

static int lex_number(struct parser *p)
{
    const char *s = p->src;
    size_t start = p->pos, i = p->pos;
    while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    if (i < p->len && s[i] == '.') {
        i++;
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    int bad = 0;
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < p->len && (s[j] == '+' || s[j] == '-')) j++;
        if (j < p->len && s[j] >= '0' && s[j] <= '9') {
            while (j < p->len && s[j] >= '0' && s[j] <= '9') j++;
            i = j;
        } else {
            bad = 1;
        }
    }
    /* A letter, digit or '.' glued to the number: "12abc", "1.2.3", "1e". */
    while (i < p->len) {
        size_t n;
        int32_t cp = cp_at(p, i, &n);
        if (cp == '.' || is_ident_cp(cp, 0)) { bad = 1; i += n; } else break;
    }
    if (bad) {
        char ex[64];
        excerpt(s + start, i - start, ex, sizeof ex);
        return PERR_OFF(p, start, PS_ERR_BAD_INPUT, "invalid number '%s'", ex);
    }
    if (i - start > TR_MAX_NUMBER)
        return PERR_OFF(p, start, PS_ERR_TOO_BIG, "number literal longer than %d characters",
                        TR_MAX_NUMBER);
    char buf[TR_MAX_NUMBER + 1];
    memcpy(buf, s + start, i - start);
    buf[i - start] = '\0';
    errno = 0;
    double v = strtod(buf, NULL);
    if (!isfinite(v))
        return PERR_OFF(p, start, PS_ERR_BAD_INPUT, "number '%s' out of range", buf);
    p->tok.kind = T_NUM;
    p->tok.num = v;
    p->tok.len = i - start;
    p->pos = i;
    return PS_OK;
}

static int lex(struct parser *p)
{
    const char *s = p->src;
    for (;;) {
        while (p->pos < p->len && (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\r'))
            p->pos++;
        if (p->pos < p->len && s[p->pos] == '#') {
            while (p->pos < p->len && s[p->pos] != '\n') p->pos++;
        }
        size_t i = p->pos;
        /* Line continuation: a backslash right before the end of the line. */
        if (i < p->len && s[i] == '\\') {
            size_t j = i + 1;
            if (j < p->len && s[j] == '\r') j++;
            if (j < p->len && s[j] == '\n') {
                p->pos = j + 1;
                p->line++;
                p->line_start = p->pos;
                continue;
            }
        }
        p->tok.off = i;
        p->tok.len = 1;
        p->tok.line = p->line;
        p->tok.col = i < p->len ? col_at(p, i) : col_at(p, p->len);
        p->tok.quoted = 0;
        if (i >= p->len) { p->tok.kind = T_EOF; p->tok.len = 0; return PS_OK; }
        if (s[i] == '\n') {
            p->pos = i + 1;
            p->line++;
            p->line_start = p->pos;
            if (p->parens > 0) continue;
            p->tok.kind = T_NL;
            return PS_OK;
        }
        break;
    }
    size_t i = p->pos;
    unsigned char c = (unsigned char)s[i];
    char c2 = i + 1 < p->len ? s[i + 1] : '\0';
    enum tok k;
    switch (c) {
    case '(': k = T_LP; p->parens++; break;
    case ')': k = T_RP; if (p->parens > 0) p->parens--; break;
    case ',': k = T_COMMA; break;
    case '+': k = T_PLUS; break;
    case '-': k = T_MINUS; break;
    case '*': k = T_STAR; break;
    case '/': k = T_SLASH; break;
    case '=': k = c2 == '=' ? T_EQ : T_ASSIGN; break;
    case '<': k = c2 == '=' ? T_LE : T_LT; break;
    case '>': k = c2 == '=' ? T_GE : T_GT; break;
    case '!':
        if (c2 != '=')
            return PERR_OFF(p, i, PS_ERR_BAD_INPUT, "unexpected '!'; use 'not' or '!='");
        k = T_NE;
        break;
    case '&': return PERR_OFF(p, i, PS_ERR_BAD_INPUT, "unexpected '&'; use 'and'");
    case '|': return PERR_OFF(p, i, PS_ERR_BAD_INPUT, "unexpected '|'; use 'or'");
    case '"': case '\'': return lex_string(p);
    case '`': {
        size_t j = i + 1;
        while (j < p->len && s[j] != '`' && s[j] != '\n') j++;
        if (j >= p->len || s[j] != '`')
            return PERR_OFF(p, i, PS_ERR_BAD_INPUT, "unterminated quoted name");
        if (j == i + 1) return PERR_OFF(p, i, PS_ERR_BAD_INPUT, "empty quoted name");
        if (j - i - 1 > TR_MAX_IDENT)
            return PERR_OFF(p, i, PS_ERR_TOO_BIG, "name longer than %d bytes", TR_MAX_IDENT);
        ps_buf_reset(&p->text);
        ps_buf_append(&p->text, s + i + 1, j - i - 1);
        p->tok.kind = T_IDENT;
        p->tok.quoted = 1;
        p->tok.len = j + 1 - i;
        p->pos = j + 1;
        return PS_OK;
    }
    default:
        if ((c >= '0' && c <= '9') || (c == '.' && c2 >= '0' && c2 <= '9')) return lex_number(p);
        {
            size_t n;
            int32_t cp = cp_at(p, i, &n);
            if (is_ident_cp(cp, 1)) {
                size_t j = i + n;
                while (j < p->len) {
                    cp = cp_at(p, j, &n);
                    if (!is_ident_cp(cp, 0)) break;
                    j += n;
                }
                if (j - i > TR_MAX_IDENT)
                    return PERR_OFF(p, i, PS_ERR_TOO_BIG, "name longer than %d bytes",
                                    TR_MAX_IDENT);
                ps_buf_reset(&p->text);
                ps_buf_append(&p->text, s + i, j - i);
                p->tok.kind = T_IDENT;
                p->tok.len = j - i;
                p->pos = j;
                return PS_OK;
            }
            if (c < 0x20 || c == 0x7f)
                return PERR_OFF(p, i, PS_ERR_BAD_INPUT, "unexpected control character 0x%02x", c);
            char ex[64];
            excerpt(s + i, n, ex, sizeof ex);
            return PERR_OFF(p, i, PS_ERR_BAD_INPUT, "unexpected character '%s'", ex);
        }
    }
    p->tok.kind = k;
    p->tok.len = (k == T_EQ || k == T_NE || k == T_LE || k == T_GE) ? 2 : 1;
    p->pos = i + p->tok.len;
    return PS_OK;
}

/* ---- parser ------------------------------------------------------------- */

static int is_kw(const struct parser *p, const char *kw)
{
    return p->tok.kind == T_IDENT && !p->tok.quoted && strcmp(p->text.data, kw) == 0;
}

static int is_keyword(const char *s)
{
    static const char *const kw[] = { "and", "or", "not", "in", "true", "false" };
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (strcmp(s, kw[i]) == 0) return 1;
    return 0;
}

static struct node *node_new(struct parser *p, int kind, int line, int col)
{
    struct node *n = ps_xcalloc(1, sizeof *n);
    n->kind = (uint8_t)kind;
    n->line = line;
    n->col = col;
    n->id = p->rs->n_nodes++;
    n->depth = 1;
    return n;
}

/* Sets n's height from its children; an error past TR_MAX_DEPTH. */
static int node_depth(struct parser *p, struct node *n)
{
    int d = 0;
    if (n->a && n->a->depth > d) d = n->a->depth;
    if (n->b && n->b->depth > d) d = n->b->depth;
    n->depth = d + 1;
    if (n->depth > TR_MAX_DEPTH)
        return perr_at(p, n->line, n->col, PS_ERR_TOO_BIG,
                       "expression too long (more than %d nested operations)", TR_MAX_DEPTH);
    return PS_OK;
}

static int parse_expr(struct parser *p, struct node **out);

/* Hands n to *out and moves past its last token; on a lexer error frees
 * n instead, so a failing parse function never leaves a node behind. */
static int take(struct parser *p, struct node *n, struct node **out)
{
    int rc = lex(p);
    if (rc) { node_free(n); *out = NULL; return rc; }
    *out = n;
    return PS_OK;
}

static int enter(struct parser *p)
{
    if (++p->nest > TR_MAX_NEST)
        return PERR_TOK(p, PS_ERR_TOO_BIG, "expression nested too deeply (limit %d)",
                        TR_MAX_NEST);
    return PS_OK;
}

static int stat_fn_of(const char *name, double *q)
{
    if (name[0] == 'p' && name[1] >= '0' && name[1] <= '9') {
        size_t n = strlen(name);
        if (n > 4) return -1;
        int v = 0;
        for (size_t i = 1; i < n; i++) {
            if (name[i] < '0' || name[i] > '9') return -1;
            v = v * 10 + (name[i] - '0');
        }
        if (v > 100 || (n > 2 && name[1] == '0')) return -1;
        *q = v;
        return S_PCT;
    }
    if (strcmp(name, "percentile") == 0) return S_PCT;
    if (strcmp(name, "median") == 0) return S_MEDIAN;
    if (strcmp(name, "mean") == 0) return S_MEAN;
    if (strcmp(name, "min") == 0) return S_MIN;
    if (strcmp(name, "max") == 0) return S_MAX;
    return -1;
}

/* call = NAME "(" args ")"; the current token is '(' and name is copied. */
static int parse_call(struct parser *p, const char *name, int line, int col, struct node **out)
{
    char desc[96];
    int rc;
    double q = NAN;
    int is_missing = strcmp(name, "missing") == 0;
    int fn = is_missing ? -1 : stat_fn_of(name, &q);
    if (!is_missing && fn < 0)
        return perr_at(p, line, col, PS_ERR_BAD_INPUT, "unknown function '%s'", name);
    if ((rc = lex(p))) return rc;                          /* past '(' */
    struct node *n = node_new(p, is_missing ? N_MISSING : N_STAT, line, col);
    if (is_missing) {
        if ((rc = parse_expr(p, &n->a))) goto fail;
    } else {
        n->op = (uint8_t)fn;
        n->num = q;
        if (p->tok.kind != T_IDENT || (!p->tok.quoted && is_keyword(p->text.data))) {
            rc = PERR_TOK(p, PS_ERR_BAD_INPUT, "expected a field name as the argument of '%s', "
                          "got %s", name, tok_desc(p, desc, sizeof desc));
            goto fail;
        }
        n->a = node_new(p, N_FIELD, p->tok.line, p->tok.col);
        n->a->str = ps_xstrdup(p->text.data);
        if ((rc = lex(p))) goto fail;
        if (strcmp(name, "percentile") == 0) {
            if (p->tok.kind != T_COMMA) {
                rc = PERR_TOK(p, PS_ERR_BAD_INPUT,
                              "expected ',' and a percentage after the field of 'percentile'");
                goto fail;
            }
            if ((rc = lex(p))) goto fail;
            if (p->tok.kind != T_NUM || !(p->tok.num >= 0 && p->tok.num <= 100)) {
                rc = PERR_TOK(p, PS_ERR_BAD_INPUT,
                              "expected a percentage from 0 to 100, got %s",
                              tok_desc(p, desc, sizeof desc));
                goto fail;
            }
            n->num = p->tok.num;
            if ((rc = lex(p))) goto fail;
        }
    }
    if (p->tok.kind != T_RP) {
        rc = PERR_TOK(p, PS_ERR_BAD_INPUT, "expected ')' after arguments, got %s",
                      tok_desc(p, desc, sizeof desc));
        goto fail;
    }
    if ((rc = lex(p))) goto fail;
    if ((rc = node_depth(p, n))) goto fail;
    *out = n;
    return PS_OK;
fail:
    node_free(n);
    return rc;
}

static int parse_primary(struct parser *p, struct node **out)
{
    char desc[96];
    int rc;
    int line = p->tok.line, col = p->tok.col;
    switch (p->tok.kind) {
    case T_NUM: {
        struct node *n = node_new(p, N_NUM, line, col);
        n->num = p->tok.num;
        return take(p, n, out);
    }
    case T_STR: {
        struct node *n = node_new(p, N_STR, line, col);
        n->str = ps_xstrndup(p->text.data, p->text.len);
        return take(p, n, out);
    }
    case T_LP: {
        if ((rc = enter(p))) return rc;
        if ((rc = lex(p))) return rc;
        if ((rc = parse_expr(p, out))) return rc;
        if (p->tok.kind != T_RP) {
            rc = PERR_TOK(p, PS_ERR_BAD_INPUT, "expected ')' to close '(' at %d:%d, got %s",
                          line, col, tok_desc(p, desc, sizeof desc));
            node_free(*out);
            *out = NULL;
            return rc;
        }
        p->nest--;
        return take(p, *out, out);
    }
    case T_IDENT: {
        if (!p->tok.quoted && (is_kw(p, "true") || is_kw(p, "false"))) {
            struct node *n = node_new(p, N_BOOL, line, col);
            n->num = is_kw(p, "true");
            return take(p, n, out);
        }
        if (!p->tok.quoted && is_keyword(p->text.data))
            return PERR_TOK(p, PS_ERR_BAD_INPUT, "expected an expression, got '%s'",
                            p->text.data);
        char *name = ps_xstrdup(p->text.data);
        int quoted = p->tok.quoted;
        if ((rc = lex(p))) { free(name); return rc; }
        if (p->tok.kind == T_LP && !quoted) {
            if ((rc = enter(p)) == PS_OK) rc = parse_call(p, name, line, col, out);
            if (rc == PS_OK) p->nest--;
            free(name);
            return rc;
        }
        struct node *n = node_new(p, N_FIELD, line, col);
        n->str = name;
        *out = n;
        return PS_OK;
    }
    default:
        return PERR_TOK(p, PS_ERR_BAD_INPUT, "expected an expression, got %s",
                        tok_desc(p, desc, sizeof desc));
    }
}

static int parse_unary(struct parser *p, struct node **out)
{
    if (p->tok.kind == T_MINUS || p->tok.kind == T_PLUS) {
        int neg = p->tok.kind == T_MINUS, line = p->tok.line, col = p->tok.col, rc;
        if ((rc = enter(p))) return rc;
        if ((rc = lex(p))) return rc;
        struct node *a = NULL;
        if ((rc = parse_unary(p, &a))) return rc;
        p->nest--;
        if (!neg) { *out = a; return PS_OK; }
        struct node *n = node_new(p, N_NEG, line, col);
        n->a = a;
        *out = n;
        return node_depth(p, n);
    }
    return parse_primary(p, out);
}

/* Left-associative binary levels share this loop. */
static int binary_op(const struct parser *p, int level, int *kind, int *op)
{
    switch (level) {
    case 0: if (is_kw(p, "or")) { *kind = N_OR; *op = 0; return 1; } return 0;
    case 1: if (is_kw(p, "and")) { *kind = N_AND; *op = 0; return 1; } return 0;
    case 2:
        *kind = N_ARITH;
        if (p->tok.kind == T_PLUS) { *op = A_ADD; return 1; }
        if (p->tok.kind == T_MINUS) { *op = A_SUB; return 1; }
        return 0;
    default:
        *kind = N_ARITH;
        if (p->tok.kind == T_STAR) { *op = A_MUL; return 1; }
        if (p->tok.kind == T_SLASH) { *op = A_DIV; return 1; }
        return 0;
    }
}

static int parse_level(struct parser *p, int level, struct node **out);

static int parse_operand(struct parser *p, int level, struct node **out);

static int parse_level(struct parser *p, int level, struct node **out)
{
    struct node *a = NULL;
    int rc = parse_operand(p, level, &a);
    if (rc) return rc;
    int kind, op;
    while (binary_op(p, level, &kind, &op)) {
        struct node *n = node_new(p, kind, p->tok.line, p->tok.col);
        n->op = (uint8_t)op;
        n->a = a;
        a = n;
        if ((rc = lex(p))) break;
        if ((rc = parse_operand(p, level, &n->b))) break;
        if ((rc = node_depth(p, n))) break;
    }
    if (rc) { node_free(a); return rc; }
    *out = a;
    return PS_OK;
}

static int cmp_of(enum tok k)
{
    switch (k) {
    case T_LT: return C_LT;
    case T_LE: return C_LE;
    case T_GT: return C_GT;
    case T_GE: return C_GE;
    case T_EQ: return C_EQ;
    case T_NE: return C_NE;
    default: return -1;
    }
}

/* literal = ["-" | "+"] number | string */
static int parse_literal(struct parser *p, struct node **out)
{
    char desc[96];
    int line = p->tok.line, col = p->tok.col, rc;
    int sign = 0;
    if (p->tok.kind == T_MINUS || p->tok.kind == T_PLUS) {
        sign = p->tok.kind == T_MINUS ? -1 : 1;
        if ((rc = lex(p))) return rc;
    }
    if (p->tok.kind == T_NUM) {
        struct node *n = node_new(p, N_NUM, line, col);
        n->num = sign < 0 ? -p->tok.num : p->tok.num;
        return take(p, n, out);
    }
    if (p->tok.kind == T_STR && !sign) {
        struct node *n = node_new(p, N_STR, line, col);
        n->str = ps_xstrndup(p->text.data, p->text.len);
        return take(p, n, out);
    }
    return PERR_TOK(p, PS_ERR_BAD_INPUT, "expected a number or string in the list, got %s",
                    tok_desc(p, desc, sizeof desc));
}

/* cmp = sum [ cmpop sum | ["not"] "in" "(" literal {"," literal} [","] ")" ] */
static int parse_cmp(struct parser *p, struct node **out)
{
    char desc[96];
    struct node *a = NULL, *n = NULL;
    int rc = parse_level(p, 2, &a);
    if (rc) return rc;
    int op = cmp_of(p->tok.kind);
    if (op >= 0) {
        n = node_new(p, N_CMP, p->tok.line, p->tok.col);
        n->op = (uint8_t)op;
        n->a = a;
        if ((rc = lex(p))) goto fail;
        if ((rc = parse_level(p, 2, &n->b))) goto fail;
        if (cmp_of(p->tok.kind) >= 0) {
            rc = PERR_TOK(p, PS_ERR_BAD_INPUT, "comparisons cannot be chained; use 'and'");
            goto fail;
        }
    } else if (is_kw(p, "in") || is_kw(p, "not")) {
        int line = p->tok.line, col = p->tok.col, negated = is_kw(p, "not");
        if ((rc = lex(p))) { node_free(a); return rc; }
        if (negated && !is_kw(p, "in")) {
            rc = PERR_TOK(p, PS_ERR_BAD_INPUT, "expected 'in' after 'not', got %s",
                          tok_desc(p, desc, sizeof desc));
            node_free(a);
            return rc;
        }
        if (negated && (rc = lex(p))) { node_free(a); return rc; }
        n = node_new(p, N_IN, line, col);
        n->op = (uint8_t)negated;
        n->a = a;
        if (p->tok.kind != T_LP) {
            rc = PERR_TOK(p, PS_ERR_BAD_INPUT, "expected '(' after 'in', got %s",
                          tok_desc(p, desc, sizeof desc));
            goto fail;
        }
        int lp_line = p->tok.line, lp_col = p->tok.col;
        if ((rc = lex(p))) goto fail;
        size_t cap = 0;
        while (p->tok.kind != T_RP) {
            if (n->n_items >= TR_MAX_LIST) {
                rc = PERR_TOK(p, PS_ERR_TOO_BIG, "list longer than %d items", TR_MAX_LIST);
                goto fail;
            }
            n->items = ps_xgrow(n->items, &cap, (size_t)n->n_items + 1, sizeof *n->items);
            n->items[n->n_items] = NULL;
            if ((rc = parse_literal(p, &n->items[n->n_items]))) goto fail;
            n->n_items++;
            if (p->tok.kind == T_COMMA) {
                if ((rc = lex(p))) goto fail;
            } else if (p->tok.kind != T_RP) {
                rc = PERR_TOK(p, PS_ERR_BAD_INPUT, "expected ',' or ')' in the list, got %s",
                              tok_desc(p, desc, sizeof desc));
                goto fail;
            }
        }
        if (n->n_items == 0) {
            rc = perr_at(p, lp_line, lp_col, PS_ERR_BAD_INPUT, "empty list after 'in'");
            goto fail;
        }
        if ((rc = lex(p))) goto fail;
    } else {
        *out = a;
        return PS_OK;
    }
    if ((rc = node_depth(p, n))) goto fail;
    *out = n;
    return PS_OK;
fail:
    node_free(n ? n : a);
    return rc;
}

/* not = "not" not | cmp */
static int parse_not(struct parser *p, struct node **out)
{
    if (!is_kw(p, "not")) return parse_cmp(p, out);
    int line = p->tok.line, col = p->tok.col, rc;
    if ((rc = enter(p))) return rc;
    if ((rc = lex(p))) return rc;
    struct node *n = node_new(p, N_NOT, line, col);
    if ((rc = parse_not(p, &n->a)) || (rc = node_depth(p, n))) {
        node_free(n);
        return rc;
    }
    p->nest--;
    *out = n;
    return PS_OK;
}

static int parse_operand(struct parser *p, int level, struct node **out)
{
    switch (level) {
    case 0: return parse_level(p, 1, out);   /* or: operands are and-terms */
    case 1: return parse_not(p, out);        /* and: operands are not-terms */
    case 2: return parse_level(p, 3, out);   /* +-: operands are products */
    default: return parse_unary(p, out);     /* * /: operands are unary */
    }
}

static int parse_expr(struct parser *p, struct node **out)
{
    *out = NULL;
    return parse_level(p, 0, out);
}

/* rule = NAME "=" expr (NL | EOF) */
static int parse_rule(struct parser *p)
{
    char desc[96];
    int rc;
    if (p->tok.kind != T_IDENT)
        return PERR_TOK(p, PS_ERR_BAD_INPUT, "expected a rule name, got %s",
                        tok_desc(p, desc, sizeof desc));
    if (!p->tok.quoted && is_keyword(p->text.data))
        return PERR_TOK(p, PS_ERR_BAD_INPUT, "rule name '%s' is a keyword", p->text.data);
    int prev = ps_tagrules_find(p->rs, p->text.data);
    if (prev >= 0)
        return PERR_TOK(p, PS_ERR_BAD_INPUT, "duplicate rule \"%s\" (first defined on line %d)",
                        p->text.data, p->rs->rules[prev].line);
    if (p->rs->n_rules >= TR_MAX_RULES)
        return PERR_TOK(p, PS_ERR_TOO_BIG, "more than %d rules", TR_MAX_RULES);
    struct rule r = { .line = p->tok.line, .col = p->tok.col };
    r.name = ps_xstrdup(p->text.data);
    if ((rc = lex(p))) goto fail;
    if (p->tok.kind != T_ASSIGN) {
        rc = PERR_TOK(p, PS_ERR_BAD_INPUT, "expected '=' after rule name \"%s\", got %s",
                      r.name, tok_desc(p, desc, sizeof desc));
        goto fail;
    }
    if ((rc = lex(p))) goto fail;
    r.expr_line = p->tok.line;
    r.expr_col = p->tok.col;
    p->nest = 0;
    if ((rc = parse_expr(p, &r.root))) goto fail;
    if (p->tok.kind != T_NL && p->tok.kind != T_EOF) {
        if (p->tok.kind == T_ASSIGN)
            rc = PERR_TOK(p, PS_ERR_BAD_INPUT, "unexpected '='; use '==' to compare");
        else if (p->tok.kind == T_RP)
            rc = PERR_TOK(p, PS_ERR_BAD_INPUT, "unmatched ')'");
        else
            rc = PERR_TOK(p, PS_ERR_BAD_INPUT, "expected an operator or end of rule, got %s",
                          tok_desc(p, desc, sizeof desc));
        goto fail;
    }
    p->rs->rules = ps_xgrow(p->rs->rules, &p->rs->cap_rules, (size_t)p->rs->n_rules + 1,
                            sizeof *p->rs->rules);
    p->rs->rules[p->rs->n_rules++] = r;
    return PS_OK;
fail:
    free(r.name);
    node_free(r.root);
    return rc;
}

int ps_tagrules_parse(const char *src, size_t len, const char *filename,
                      struct ps_tagrules **out, struct ps_err *err)
{
    *out = NULL;
    if (!filename) filename = "<rules>";
    if (!src && len > 0)
        return ps_err_set(err, PS_ERR_USAGE, "%s: NULL rule text", filename);
    if (len > TR_MAX_FILE)
        return ps_err_set(err, PS_ERR_TOO_BIG, "%s: rule file larger than %zu bytes",
                          filename, TR_MAX_FILE);
    struct parser p = { .src = src ? src : "", .len = len, .filename = filename, .line = 1,
                        .cc_col = 1, .err = err };
    /* UTF-8 first, so the lexer can decode freely and columns are code points. */
    long bad = ps_utf8_invalid_offset(p.src, len);
    if (bad >= 0) {
        for (long i = 0; i < bad; i++)
            if (p.src[i] == '\n') { p.line++; p.line_start = (size_t)i + 1; }
        return PERR_OFF(&p, (size_t)bad, PS_ERR_BAD_INPUT, "invalid UTF-8 (byte 0x%02x)",
                        (unsigned char)p.src[bad]);
    }
    if (len >= 3 && memcmp(p.src, "\xEF\xBB\xBF", 3) == 0) p.pos = p.line_start = 3;
    p.cc_off = p.line_start;
    p.cc_col = 1;
    ps_buf_init(&p.text);
    p.rs = ps_xcalloc(1, sizeof *p.rs);
    p.rs->filename = ps_xstrdup(filename);
    int rc = lex(&p);
    while (rc == PS_OK && p.tok.kind != T_EOF) {
        if (p.tok.kind == T_NL) { rc = lex(&p); continue; }
        p.parens = 0;
        if ((rc = parse_rule(&p))) break;
        if (p.tok.kind == T_NL) rc = lex(&p);
    }
    ps_buf_release(&p.text);
    if (rc) {
        ps_tagrules_free(p.rs);
        return rc;
    }
    *out = p.rs;
    return PS_OK;
}

int ps_tagrules_load(const char *path, struct ps_tagrules **out, struct ps_err *err)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ps_err_set(err, PS_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct ps_buf b;
    ps_buf_init(&b);
    char chunk[65536];
    size_t n;
    int rc = PS_OK;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        ps_buf_append(&b, chunk, n);
        if (b.len > TR_MAX_FILE) {
            rc = ps_err_set(err, PS_ERR_TOO_BIG, "%s: rule file larger than %zu bytes", path,
                            TR_MAX_FILE);
            break;
        }
    }
    if (rc == PS_OK && ferror(fp))
        rc = ps_err_set(err, PS_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    fclose(fp);
    if (rc == PS_OK) rc = ps_tagrules_parse(b.data, b.len, path, out, err);
    ps_buf_release(&b);
    return rc;
}

/* ---- bind --------------------------------------------------------------- */

struct binding {
    const struct ps_tagrules *rs;
    const struct ps_table_view *t;
    int *col;               /* [n_nodes] N_FIELD: column index, or -1 - j for the
                               result of rule j (an earlier rule) */
    uint8_t *type;          /* [n_nodes] enum val_type */
    double *stat;           /* [n_nodes] N_STAT: value */
    const uint8_t *out;     /* eval: the output matrix, for rule references */
    struct ps_err *err;
};

static int berr(const struct binding *b, const struct node *n, const struct rule *r,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int berr(const struct binding *b, const struct node *n, const struct rule *r,
                const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ps_err_set(b->err, PS_ERR_BAD_INPUT, "%s:%d:%d: %s in rule \"%s\"",
                      b->rs->filename, n->line, n->col, msg, r->name);
}

static int find_col(const struct ps_table_view *t, const char *name)
{
    for (int c = 0; c < t->n_cols; c++)
        if (t->names[c] && strcmp(t->names[c], name) == 0) return c;
    return -1;
}

/* Levenshtein distance of a and b (bytes), capped: returns cap + 1 as
 * soon as it exceeds cap.  Names are at most TR_MAX_IDENT bytes here;
 * longer column names are simply not suggested. */
static size_t edit_distance(const char *a, const char *b, size_t cap)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > TR_MAX_IDENT || nb > TR_MAX_IDENT) return cap + 1;
    if ((na > nb ? na - nb : nb - na) > cap) return cap + 1;
    size_t row[TR_MAX_IDENT + 1];
    for (size_t j = 0; j <= nb; j++) row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0], best = row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t v = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < v) v = up + 1;
            if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
            if (v < best) best = v;
        }
        if (best > cap) return cap + 1;
    }
    return row[nb];
}

/* The column name closest to an unknown name, for a "did you mean" hint:
 * within 2 edits, or one name a prefix of the other (at least 3 bytes
 * shared); NULL when nothing is close. */
static const char *nearest_col(const struct ps_table_view *t, const char *name)
{
    const char *best = NULL;
    size_t best_d = 3, n = strlen(name);
    for (int c = 0; c < t->n_cols; c++) {
        const char *cn = t->names[c];
        size_t d = edit_distance(name, cn, 2);
        size_t m = strlen(cn);
        if (d > 2 && n >= 3 && m >= 3 && strncmp(name, cn, n < m ? n : m) == 0) d = 2;
        if (d < best_d) { best_d = d; best = cn; }
    }
    return best;
}

static int bind_node(struct binding *b, const struct rule *r, const struct node *n)
{
    int rc;
    uint8_t *ty = b->type;
    switch (n->kind) {
    case N_NUM: ty[n->id] = V_NUM; return PS_OK;
    case N_STR: ty[n->id] = V_STR; return PS_OK;
    case N_BOOL: ty[n->id] = V_BOOL; return PS_OK;
    case N_FIELD: {
        int c = find_col(b->t, n->str);
        if (c < 0) {
            /* Not a column: the result of an earlier rule (columns win). */
            int j = ps_tagrules_find(b->rs, n->str), self = (int)(r - b->rs->rules);
            if (j >= 0 && j < self) {
                b->col[n->id] = -1 - j;
                ty[n->id] = V_BOOL;
                return PS_OK;
            }
            if (j >= 0)
                return berr(b, n, r, "rule \"%s\" is not defined above this line (rules can use "
                            "only earlier rules)", n->str);
            const char *near = nearest_col(b->t, n->str);
            if (near)
                return ps_err_set(b->err, PS_ERR_BAD_INPUT,
                                  "%s:%d:%d: unknown field \"%s\" in rule \"%s\"; "
                                  "did you mean \"%s\"?", b->rs->filename, n->line, n->col,
                                  n->str, r->name, near);
            return berr(b, n, r, "unknown field \"%s\"", n->str);
        }
        b->col[n->id] = c;
        ty[n->id] = b->t->num && b->t->num[c] ? V_NUM : V_STR;
        return PS_OK;
    }
    case N_NEG:
        if ((rc = bind_node(b, r, n->a))) return rc;
        if (ty[n->a->id] != V_NUM)
            return berr(b, n, r, "unary '-' needs a number, got %s", type_name[ty[n->a->id]]);
        ty[n->id] = V_NUM;
        return PS_OK;
    case N_ARITH:
        if ((rc = bind_node(b, r, n->a)) || (rc = bind_node(b, r, n->b))) return rc;
        if (ty[n->a->id] != V_NUM || ty[n->b->id] != V_NUM)
            return berr(b, n, r, "'%s' needs numbers, got %s", arith_sym[n->op],
                        type_name[ty[n->a->id] != V_NUM ? ty[n->a->id] : ty[n->b->id]]);
        ty[n->id] = V_NUM;
        return PS_OK;
    case N_CMP: {
        if ((rc = bind_node(b, r, n->a)) || (rc = bind_node(b, r, n->b))) return rc;
        int ta = ty[n->a->id], tb = ty[n->b->id];
        if (ta != tb)
            return berr(b, n, r, "cannot compare %s with %s", type_name[ta], type_name[tb]);
        if (ta == V_BOOL && n->op != C_EQ && n->op != C_NE)
            return berr(b, n, r, "'%s' cannot order conditions", cmp_sym[n->op]);
        ty[n->id] = V_BOOL;
        return PS_OK;
    }
    case N_AND: case N_OR:
        if ((rc = bind_node(b, r, n->a)) || (rc = bind_node(b, r, n->b))) return rc;
        if (ty[n->a->id] != V_BOOL || ty[n->b->id] != V_BOOL)
            return berr(b, n, r, "'%s' needs conditions, got %s",
                        n->kind == N_AND ? "and" : "or",
                        type_name[ty[n->a->id] != V_BOOL ? ty[n->a->id] : ty[n->b->id]]);
        ty[n->id] = V_BOOL;
        return PS_OK;
    case N_NOT:
        if ((rc = bind_node(b, r, n->a))) return rc;
        if (ty[n->a->id] != V_BOOL)
            return berr(b, n, r, "'not' needs a condition, got %s", type_name[ty[n->a->id]]);
        ty[n->id] = V_BOOL;
        return PS_OK;
    case N_IN: {
        if ((rc = bind_node(b, r, n->a))) return rc;
        int ta = ty[n->a->id];
        if (ta == V_BOOL) return berr(b, n, r, "'in' needs a number or a string, got a condition");
        for (int i = 0; i < n->n_items; i++) {
            const struct node *it = n->items[i];
            int ti = it->kind == N_NUM ? V_NUM : V_STR;
            ty[it->id] = (uint8_t)ti;
            if (ti != ta)
                return berr(b, it, r, "list item is %s but the value tested is %s",
                            type_name[ti], type_name[ta]);
        }
        ty[n->id] = V_BOOL;
        return PS_OK;
    }
    case N_STAT: {
        if ((rc = bind_node(b, r, n->a))) return rc;
        if (ty[n->a->id] != V_NUM)
            return berr(b, n->a, r, "field \"%s\" is text; statistics need a numeric field",
                        n->a->str);
        ty[n->id] = V_NUM;
        return PS_OK;
    }
    case N_MISSING:
        if ((rc = bind_node(b, r, n->a))) return rc;
        if (ty[n->a->id] == V_BOOL)
            return berr(b, n, r, "'missing' needs a number or a string, got a condition");
        ty[n->id] = V_BOOL;
        return PS_OK;
    }
    PS_ASSERT(0);
    return PS_ERR_INTERNAL;
}

static int check_view(const struct ps_table_view *t, struct ps_err *err)
{
    if (!t || t->n_cols < 0 || (t->n_cols > 0 && !t->names))
        return ps_err_set(err, PS_ERR_USAGE, "tag rules: invalid table view");
    for (int c = 0; c < t->n_cols; c++) {
        int has_num = t->num && t->num[c], has_str = t->str && t->str[c];
        if (!t->names[c])
            return ps_err_set(err, PS_ERR_USAGE, "tag rules: column %d has no name", c);
        if (has_num == has_str)
            return ps_err_set(err, PS_ERR_USAGE,
                              "tag rules: column \"%s\" must be numeric or text (exactly one)",
                              t->names[c]);
    }
    return PS_OK;
}

static int bind_all(struct binding *b)
{
    int rc = check_view(b->t, b->err);
    if (rc) return rc;
    size_t nn = b->rs->n_nodes > 0 ? (size_t)b->rs->n_nodes : 1;
    b->col = ps_xmalloc(nn * sizeof *b->col);
    b->type = ps_xcalloc(nn, 1);
    b->stat = ps_xmalloc(nn * sizeof *b->stat);
    for (int i = 0; i < b->rs->n_rules; i++) {
        const struct rule *r = &b->rs->rules[i];
        if ((rc = bind_node(b, r, r->root))) return rc;
        int ty = b->type[r->root->id];
        if (ty != V_BOOL)
            return ps_err_set(b->err, PS_ERR_BAD_INPUT,
                              "%s:%d:%d: rule \"%s\" is %s; expected a condition",
                              b->rs->filename, r->expr_line, r->expr_col, r->name,
                              type_name[ty]);
    }
    return PS_OK;
}

static void binding_release(struct binding *b)
{
    free(b->col);
    free(b->type);
    free(b->stat);
}

int ps_tagrules_bind(const struct ps_tagrules *rs, const struct ps_table_view *t,
                     struct ps_err *err)
{
    struct binding b = { .rs = rs, .t = t, .err = err };
    int rc = bind_all(&b);
    binding_release(&b);
    return rc;
}

/* ---- statistics --------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void swapd(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

/* Partially orders s[0..n) so that s[k] holds the k-th smallest value
 * (0-based), nothing before it is larger and nothing after it smaller.
 * Introselect: quickselect with a median-of-three pivot and a three-way
 * partition (runs of equal values cost one pass), falling back to a full
 * sort of the remaining range after about 2 log2(n) rounds, so hostile
 * data cannot make it quadratic.  O(n) on average. */
static void select_kth(double *s, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    int budget = 8;
    for (size_t m = n; m > 1; m >>= 1) budget += 2;
    while (hi - lo > 16) {
        if (budget-- == 0) {
            qsort(s + lo, hi - lo, sizeof *s, cmp_double);
            return;
        }
        double a = s[lo], b = s[lo + (hi - lo) / 2], c = s[hi - 1];
        double piv = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        /* [lo, lt) < piv, [lt, i) == piv, [gt, hi) > piv */
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (s[i] < piv) swapd(&s[lt++], &s[i++]);
            else if (s[i] > piv) swapd(&s[i], &s[--gt]);
            else i++;
        }
        if (k < lt) hi = lt;
        else if (k >= gt) lo = gt;
        else return;
    }
    for (size_t i = lo + 1; i < hi; i++) {    /* insertion sort of the last few */
        double v = s[i];
        size_t j = i;
        while (j > lo && s[j - 1] > v) { s[j] = s[j - 1]; j--; }
        s[j] = v;
    }
}

/* The smallest of s[from..n), from < n. */
static double min_from(const double *s, size_t from, size_t n)
{
    double v = s[from];
    for (size_t i = from + 1; i < n; i++)
        if (s[i] < v) v = s[i];
    return v;
}

/* numpy's linear quantile of the values s[0..n), n > 0 (s is reordered),
 * including its lerp, which interpolates from the upper neighbour when
 * the fraction is >= 0.5.  Needs only the lo-th and (lo+1)-th smallest:
 * one selection and one scan, no sort. */
static double select_percentile(double *s, size_t n, double q)
{
    double v = (double)(n - 1) * (q / 100.0);
    double lo_f = floor(v);
    size_t lo = (size_t)lo_f;
    if (lo > n - 1) lo = n - 1;
    select_kth(s, n, lo);
    double g = v - lo_f, a = s[lo], b = lo + 1 < n ? min_from(s, lo + 1, n) : a, d = b - a;
    if (a == b) return a;
    return g >= 0.5 ? b - d * (1.0 - g) : a + d * g;
}

/* Non-NaN copy of x[0..n); *m = its length. */
static double *finite_copy(const double *x, size_t n, size_t *m)
{
    double *s = ps_xmalloc((n ? n : 1) * sizeof *s);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i])) s[k++] = x[i];
    *m = k;
    return s;
}

double ps_tagrules_percentile(const double *x, size_t n, double q)
{
    if (!(q >= 0 && q <= 100)) return NAN;
    size_t m;
    double *s = finite_copy(x, n, &m);
    double v = m ? select_percentile(s, m, q) : NAN;
    free(s);
    return v;
}

/* Statistic fn of the m non-NaN values in s (reordered freely); x[0..n)
 * is the original column (for the mean, summed in row order). */
static double stat_value(int fn, double q, double *s, size_t m, const double *x, size_t n)
{
    if (m == 0) return NAN;
    switch (fn) {
    case S_PCT: return select_percentile(s, m, q);
    case S_MEDIAN:  /* numpy.median: the mean of the two middle values */
        select_kth(s, m, m / 2 - (m % 2 == 0));
        if (m % 2) return s[m / 2];
        return (s[m / 2 - 1] + min_from(s, m / 2, m)) / 2.0;
    case S_MIN: {
        double v = s[0];
        for (size_t i = 1; i < m; i++) if (s[i] < v) v = s[i];
        return v;
    }
    case S_MAX: {
        double v = s[0];
        for (size_t i = 1; i < m; i++) if (s[i] > v) v = s[i];
        return v;
    }
    default: {     /* mean in row order, long double accumulator */
        long double sum = 0;
        for (size_t i = 0; i < n; i++)
            if (!isnan(x[i])) sum += x[i];
        return (double)(sum / (long double)m);
    }
    }
}

struct stat_cache {
    double **vals;          /* [n_cols] non-NaN copy (order scrambled) or NULL */
    size_t *n_vals;
};

static void compute_stats(struct binding *b, struct stat_cache *sc, const struct node *n)
{
    if (!n) return;
    if (n->kind == N_STAT) {
        int c = b->col[n->a->id];
        if (!sc->vals[c]) sc->vals[c] = finite_copy(b->t->num[c], b->t->n_rows, &sc->n_vals[c]);
        b->stat[n->id] = stat_value(n->op, n->num, sc->vals[c], sc->n_vals[c],
                                    b->t->num[c], b->t->n_rows);
        return;
    }
    compute_stats(b, sc, n->a);
    compute_stats(b, sc, n->b);
}

/* ---- evaluation --------------------------------------------------------- */

static size_t type_size(int ty)
{
    return ty == V_NUM ? sizeof(double) : ty == V_STR ? sizeof(const char *) : 1;
}

static int is_missing_str(const char *s) { return !s || !*s; }

/* Writes node n's values for rows r0 .. r0 + m - 1 into out (double *,
 * const char ** or uint8_t * by the node's type). */
static void eval_node(const struct binding *b, const struct node *n, size_t r0, size_t m,
                      void *out)
{
    const int ty = b->type[n->id];
    double *od = out;
    const char **os = out;
    uint8_t *ob = out;
    switch (n->kind) {
    case N_NUM: for (size_t i = 0; i < m; i++) od[i] = n->num; return;
    case N_STR: for (size_t i = 0; i < m; i++) os[i] = n->str; return;
    case N_BOOL: memset(ob, n->num != 0, m); return;
    case N_STAT: for (size_t i = 0; i < m; i++) od[i] = b->stat[n->id]; return;
    case N_FIELD: {
        int c = b->col[n->id];
        if (c < 0) memcpy(ob, b->out + (size_t)(-1 - c) * b->t->n_rows + r0, m);
        else if (ty == V_NUM) memcpy(od, b->t->num[c] + r0, m * sizeof *od);
        else for (size_t i = 0; i < m; i++) os[i] = b->t->str[c][r0 + i];
        return;
    }
    case N_NEG:
        eval_node(b, n->a, r0, m, od);
        for (size_t i = 0; i < m; i++) od[i] = -od[i];
        return;
    case N_ARITH: {
        double *y = ps_xmalloc(m * sizeof *y);
        eval_node(b, n->a, r0, m, od);
        eval_node(b, n->b, r0, m, y);
        switch (n->op) {
        case A_ADD: for (size_t i = 0; i < m; i++) od[i] += y[i]; break;
        case A_SUB: for (size_t i = 0; i < m; i++) od[i] -= y[i]; break;
        case A_MUL: for (size_t i = 0; i < m; i++) od[i] *= y[i]; break;
        default:    /* x / 0 is missing, not an infinity */
            for (size_t i = 0; i < m; i++) od[i] = y[i] == 0 ? NAN : od[i] / y[i];
        }
        free(y);
        return;
    }
    case N_CMP: {
        int tc = b->type[n->a->id];
        size_t sz = type_size(tc);
        void *x = ps_xmalloc(m * sz), *y = ps_xmalloc(m * sz);
        eval_node(b, n->a, r0, m, x);
        eval_node(b, n->b, r0, m, y);
        if (tc == V_NUM) {
            const double *u = x, *v = y;
            for (size_t i = 0; i < m; i++) {
                double p = u[i], q = v[i];
                int r;
                if (isnan(p) || isnan(q)) { ob[i] = 0; continue; }
                switch (n->op) {
                case C_LT: r = p < q; break;
                case C_LE: r = p <= q; break;
                case C_GT: r = p > q; break;
                case C_GE: r = p >= q; break;
                case C_EQ: r = p == q; break;
                default: r = p != q;
                }
                ob[i] = (uint8_t)r;
            }
        } else if (tc == V_STR) {
            const char **u = x, **v = y;
            for (size_t i = 0; i < m; i++) {
                if (is_missing_str(u[i]) || is_missing_str(v[i])) { ob[i] = 0; continue; }
                int c = strcmp(u[i], v[i]), r;
                switch (n->op) {
                case C_LT: r = c < 0; break;
                case C_LE: r = c <= 0; break;
                case C_GT: r = c > 0; break;
                case C_GE: r = c >= 0; break;
                case C_EQ: r = c == 0; break;
                default: r = c != 0;
                }
                ob[i] = (uint8_t)r;
            }
        } else {
            const uint8_t *u = x, *v = y;
            for (size_t i = 0; i < m; i++)
                ob[i] = (uint8_t)(n->op == C_EQ ? u[i] == v[i] : u[i] != v[i]);
        }
        free(x);
        free(y);
        return;
    }
    case N_AND: case N_OR: {
        uint8_t *y = ps_xmalloc(m);
        eval_node(b, n->a, r0, m, ob);
        eval_node(b, n->b, r0, m, y);
        if (n->kind == N_AND) for (size_t i = 0; i < m; i++) ob[i] &= y[i];
        else for (size_t i = 0; i < m; i++) ob[i] |= y[i];
        free(y);
        return;
    }
    case N_NOT:
        eval_node(b, n->a, r0, m, ob);
        for (size_t i = 0; i < m; i++) ob[i] = !ob[i];
        return;
    case N_MISSING: {
        int tc = b->type[n->a->id];
        void *x = ps_xmalloc(m * type_size(tc));
        eval_node(b, n->a, r0, m, x);
        for (size_t i = 0; i < m; i++)
            ob[i] = (uint8_t)(tc == V_NUM ? isnan(((double *)x)[i])
                                          : is_missing_str(((const char **)x)[i]));
        free(x);
        return;
    }
    case N_IN: {
        int tc = b->type[n->a->id];
        void *x = ps_xmalloc(m * type_size(tc));
        eval_node(b, n->a, r0, m, x);
        for (size_t i = 0; i < m; i++) {
            int hit = 0;
            if (tc == V_NUM) {
                double v = ((double *)x)[i];
                if (isnan(v)) { ob[i] = 0; continue; }
                for (int k = 0; k < n->n_items && !hit; k++) hit = n->items[k]->num == v;
            } else {
                const char *v = ((const char **)x)[i];
                if (is_missing_str(v)) { ob[i] = 0; continue; }
                for (int k = 0; k < n->n_items && !hit; k++) hit = strcmp(n->items[k]->str, v) == 0;
            }
            ob[i] = (uint8_t)(n->op ? !hit : hit);
        }
        free(x);
        return;
    }
    }
    PS_ASSERT(0);
}

int ps_tagrules_eval(const struct ps_tagrules *rs, const struct ps_table_view *t,
                     uint8_t *out, struct ps_err *err)
{
    struct binding b = { .rs = rs, .t = t, .out = out, .err = err };
    int rc = bind_all(&b);
    if (rc) goto done;
    if (t->n_rows > 0 && rs->n_rules > 0 && !out) {
        rc = ps_err_set(err, PS_ERR_USAGE, "tag rules: NULL output");
        goto done;
    }
    struct stat_cache sc = {
        .vals = ps_xcalloc(t->n_cols > 0 ? (size_t)t->n_cols : 1, sizeof *sc.vals),
        .n_vals = ps_xcalloc(t->n_cols > 0 ? (size_t)t->n_cols : 1, sizeof *sc.n_vals),
    };
    for (int i = 0; i < rs->n_rules; i++) compute_stats(&b, &sc, rs->rules[i].root);
    for (int c = 0; c < t->n_cols; c++) free(sc.vals[c]);
    free(sc.vals);
    free(sc.n_vals);
    for (int i = 0; i < rs->n_rules; i++)
        for (size_t r0 = 0; r0 < t->n_rows; r0 += CHUNK) {
            size_t m = t->n_rows - r0 < CHUNK ? t->n_rows - r0 : CHUNK;
            eval_node(&b, rs->rules[i].root, r0, m, out + (size_t)i * t->n_rows + r0);
        }
done:
    binding_release(&b);
    return rc;
}

/* ---- caret -------------------------------------------------------------- */

int ps_tagrules_caret(const char *src, size_t len, const char *filename,
                      const char *msg, struct ps_buf *out)
{
    if (!filename) filename = "<rules>";
    size_t fl = strlen(filename);
    if (!msg || !src || strncmp(msg, filename, fl) != 0 || msg[fl] != ':') return 0;
    const char *q = msg + fl + 1;
    char *end;
    long line = strtol(q, &end, 10);
    if (end == q || *end != ':' || line < 1) return 0;
    q = end + 1;
    long col = strtol(q, &end, 10);
    if (end == q || *end != ':' || col < 1) return 0;
    size_t i = 0;
    for (long l = 1; l < line; l++) {
        const char *nl = memchr(src + i, '\n', len - i);
        if (!nl) return 0;
        i = (size_t)(nl - src) + 1;
    }
    size_t e = i;
    while (e < len && src[e] != '\n' && src[e] != '\r') e++;
    ps_buf_append(out, "    ", 4);
    ps_buf_append(out, src + i, e - i);
    ps_buf_append(out, "\n    ", 5);
    /* Pad with the same whitespace the terminal will show: tabs stay tabs,
     * wide (CJK) characters take two cells. */
    long c = 1;
    size_t k = i;
    while (c < col && k < e) {
        int32_t cp = -1;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)src + k,
                                              (utf8proc_ssize_t)(e - k), &cp);
        if (n <= 0) { n = 1; cp = '?'; }
        if (cp == '\t') ps_buf_putc(out, '\t');
        else {
            int w = utf8proc_charwidth(cp);
            for (int j = 0; j < (w > 0 ? w : 1); j++) ps_buf_putc(out, ' ');
        }
        k += (size_t)n;
        c++;
    }
    ps_buf_append(out, "^\n", 2);
    return 1;
}
