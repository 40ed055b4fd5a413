/*
 * cmd_tokenize.c - `persona tokenize`: the tokens or ids of each text, one
 * line per text, so that users can count tokens and anyone can check the
 * tokenizers against another implementation.
 *
 * Texts come from a CSV/JSONL column (reader.h) or, without --in, from the
 * lines of stdin.  Bad rows (and stdin lines that are not valid UTF-8) are
 * skipped with a warning and counted, or stop the command with --strict.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persona/core.h"
#include "persona/log.h"
#include "persona/reader.h"
#include "persona/tokenizer.h"

#define USAGE                                                                          \
    "usage: persona tokenize --model DIR [--ids | --count] [--in FILE --text-col NAME]\n" \
    "                        [--max-tokens N] [--strict] [-q]\n"                        \
    "       persona tokenize --vocab vocab.json --merges merges.txt [...]\n"            \
    "\n"                                                                               \
    "Prints one line per text: its tokens (vocabulary form, space-separated),\n"       \
    "or with --ids their ids, or with --count their number.  GPT-2 adds no BOS;\n"     \
    "BERT's lines start with [CLS] and end with [SEP].\n"                              \
    "\n"                                                                               \
    "  --model DIR        checkpoint folder (vocab.json + merges.txt, encoder.json +\n" \
    "                     vocab.bpe, vocab.txt or tokenizer.json), or a\n"             \
    "                     tokenizer.json file\n"                                       \
    "  --vocab FILE       GPT-2 vocabulary (vocab.json / encoder.json), with --merges\n" \
    "  --merges FILE      GPT-2 merges (merges.txt / vocab.bpe)\n"                     \
    "  --ids              print token ids instead of tokens\n"                         \
    "  --count            print the number of tokens of each text\n"                   \
    "  --in FILE          CSV or JSON Lines input (default: lines of stdin)\n"         \
    "  --text-col NAME    column holding the text (with --in)\n"                       \
    "  --max-tokens N     truncate each text to N tokens (BERT keeps [SEP] last;\n"    \
    "                     default 0 = no limit)\n"                                     \
    "  --strict           stop at the first bad row (default: skip and count)\n"      \
    "  -q, --quiet        no summary on stderr\n"

struct opts {
    const char *model, *vocab, *merges, *in, *text_col;
    long max_tokens;
    int ids, count, strict, quiet;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
    const char *cmd = "tokenize";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int missing = 0;
        if (strcmp(a, "--ids") == 0) o->ids = 1;
        else if (strcmp(a, "--count") == 0) o->count = 1;
        else if (strcmp(a, "--strict") == 0) o->strict = 1;
        else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) o->quiet = 1;
        else if (cli_opt_value(argc, argv, &i, "--model", NULL, &v, &missing)) o->model = v;
        else if (cli_opt_value(argc, argv, &i, "--vocab", NULL, &v, &missing)) o->vocab = v;
        else if (cli_opt_value(argc, argv, &i, "--merges", NULL, &v, &missing)) o->merges = v;
        else if (cli_opt_value(argc, argv, &i, "--in", NULL, &v, &missing)) o->in = v;
        else if (cli_opt_value(argc, argv, &i, "--text-col", NULL, &v, &missing)) o->text_col = v;
        else if (cli_opt_value(argc, argv, &i, "--max-tokens", NULL, &v, &missing)) {
            if (!missing && cli_parse_long(cmd, "--max-tokens", v, 0, 1L << 30, &o->max_tokens))
                return CLI_USAGE;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        } else {
            return cli_usage_error(cmd, "unexpected argument '%s'", a);
        }
        if (missing)
            return cli_usage_error(cmd, "option '%s' needs a value", a);
    }
    if (!o->model && !(o->vocab && o->merges))
        return cli_usage_error(cmd, "give --model DIR, or --vocab FILE and --merges FILE");
    if (o->model && (o->vocab || o->merges))
        return cli_usage_error(cmd, "--model cannot be combined with --vocab/--merges");
    if (!o->model && (!o->vocab || !o->merges))
        return cli_usage_error(cmd, "--vocab and --merges go together");
    if (o->ids && o->count)
        return cli_usage_error(cmd, "--ids and --count cannot be combined");
    if (o->in && !o->text_col)
        return cli_usage_error(cmd, "--in needs --text-col NAME");
    if (!o->in && o->text_col)
        return cli_usage_error(cmd, "--text-col needs --in FILE");
    return CLI_OK;
}

static int load(const struct opts *o, struct ps_tokenizer **t, struct ps_err *err)
{
    if (!o->model)
        return ps_tokenizer_load_bpe_files(t, o->vocab, o->merges, err);
    size_t n = strlen(o->model);
    if (n >= 5 && strcmp(o->model + n - 5, ".json") == 0)
        return ps_tokenizer_load_file(t, o->model, err);
    return ps_tokenizer_load(t, o->model, err);
}

/* Appends a non-negative integer in decimal (printf is most of the time
 * of `--ids` otherwise). */
static void put_uint(struct ps_buf *b, size_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    char out[24];
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    ps_buf_append(b, out, (size_t)n);
}

/* Writes one text's line.  Returns the encode status. */
static int emit(const struct opts *o, const struct ps_tokenizer *t, const char *text, size_t len,
                struct ps_buf *line, struct ps_err *err)
{
    int32_t *ids;
    size_t n;
    int rc = ps_tokenizer_encode(t, text, len, (size_t)o->max_tokens, &ids, &n, err);
    if (rc)
        return rc;
    ps_buf_reset(line);
    if (o->count) {
        put_uint(line, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (i)
                ps_buf_putc(line, ' ');
            if (o->ids) {
                put_uint(line, (size_t)ids[i]); /* ids are >= 0 */
            } else {
                const char *tok = ps_tokenizer_token(t, ids[i]);
                ps_buf_append(line, tok, strlen(tok));
            }
        }
    }
    ps_buf_putc(line, '\n');
    fwrite(line->data, 1, line->len, stdout);
    free(ids);
    return PS_OK;
}

struct counts {
    long texts, bad;
};

/* Longest stdin line accepted (the texts are held whole). */
#define MAX_LINE ((size_t)256 << 20)

/* Reads one line without its "\n" into b.  Returns 1, 0 at end of input,
 * -1 if the line is longer than MAX_LINE. */
static int read_line(FILE *f, struct ps_buf *b)
{
    ps_buf_reset(b);
    int c, any = 0;
    char chunk[4096];
    size_t n = 0;
    while ((c = getc_unlocked(f)) != EOF) {
        any = 1;
        if (c == '\n')
            break;
        chunk[n++] = (char)c;
        if (n == sizeof chunk) {
            if (b->len + n > MAX_LINE)
                return -1;
            ps_buf_append(b, chunk, n);
            n = 0;
        }
    }
    if (b->len + n > MAX_LINE)
        return -1;
    ps_buf_append(b, chunk, n);
    return any;
}

static int from_stdin(const struct opts *o, const struct ps_tokenizer *t, struct counts *c,
                      struct ps_err *err)
{
    long lineno = 0;
    struct ps_buf in, line;
    ps_buf_init(&in);
    ps_buf_init(&line);
    int rc = PS_OK, got;
    while ((got = read_line(stdin, &in)) != 0) {
        lineno++;
        if (got < 0) {
            rc = ps_err_set(err, PS_ERR_TOO_BIG, "<stdin>:%ld: line longer than %zu MiB", lineno,
                            MAX_LINE >> 20);
            break;
        }
        size_t len = in.len;
        if (len && in.data[len - 1] == '\r')
            len--;
        struct ps_err e = {0};
        int s = emit(o, t, in.data, len, &line, &e);
        if (s == PS_ERR_BAD_INPUT) {
            if (o->strict) {
                rc = ps_err_set(err, s, "<stdin>:%ld: %s", lineno, e.msg);
                break;
            }
            if (c->bad++ == 0)
                ps_log(PS_LOG_WARN, "skipping <stdin>:%ld: %s", lineno, e.msg);
            continue;
        }
        if (s) {
            rc = ps_err_set(err, s, "<stdin>:%ld: %s", lineno, e.msg);
            break;
        }
        c->texts++;
    }
    if (rc == PS_OK && ferror(stdin))
        rc = ps_err_set(err, PS_ERR_IO, "cannot read stdin");
    ps_buf_release(&in);
    ps_buf_release(&line);
    return rc;
}

static int from_reader(const struct opts *o, const struct ps_tokenizer *t, struct counts *c,
                       struct ps_err *err)
{
    struct ps_reader_params rp = ps_reader_default_params();
    struct ps_reader *r;
    int rc = ps_reader_open(&r, o->in, &rp, err);
    if (rc)
        return rc;
    int col = ps_reader_column_index(r, o->text_col);
    if (col < 0) {
        struct ps_buf cols;
        ps_buf_init(&cols);
        for (int i = 0; i < ps_reader_n_columns(r); i++)
            ps_buf_printf(&cols, "%s%s", i ? ", " : "", ps_reader_column_name(r, i));
        rc = ps_err_set(err, PS_ERR_USAGE, "%s: no column \"%s\" (columns: %s)", ps_reader_name(r),
                        o->text_col, cols.data);
        ps_buf_release(&cols);
        ps_reader_close(r);
        return rc;
    }
    struct ps_buf line;
    ps_buf_init(&line);
    char msg[PS_ERR_MSG_MAX + 128];
    for (;;) {
        int s = ps_reader_next(r);
        if (s == PS_DONE)
            break;
        if (s == PS_OK) {
            size_t len;
            const char *text = ps_reader_field(r, col, &len);
            struct ps_err e = {0};
            s = emit(o, t, text, len, &line, &e);
            if (s == PS_OK) {
                c->texts++;
                continue;
            }
            snprintf(msg, sizeof msg, "%s:%ld: column \"%s\": %s", ps_reader_name(r),
                     ps_reader_line(r), o->text_col, e.msg);
            if (s != PS_ERR_BAD_INPUT) {
                rc = ps_err_set(err, s, "%s", msg);
                break;
            }
        } else if (s == PS_ERR_BAD_ROW) {
            snprintf(msg, sizeof msg, "%s", ps_reader_errmsg(r));
        } else {
            rc = ps_err_set(err, s, "%s", ps_reader_errmsg(r));
            break;
        }
        if (o->strict) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s", msg);
            break;
        }
        if (c->bad++ == 0)
            ps_log(PS_LOG_WARN, "skipping bad row: %s", msg);
    }
    ps_buf_release(&line);
    ps_reader_close(r);
    return rc;
}

static int cmd_tokenize_main(int argc, char **argv)
{
    struct opts o = {0};
    int u = parse_opts(argc, argv, &o);
    if (u)
        return u;
    cli_setup_logging(o.quiet);
    struct ps_err err = {0};
    struct ps_tokenizer *t = NULL;
    if (load(&o, &t, &err))
        return cli_fail_err(&err);
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    struct counts c = {0, 0};
    int rc = o.in ? from_reader(&o, t, &c, &err) : from_stdin(&o, t, &c, &err);
    ps_tokenizer_free(t);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (!rc)
            return cli_fail("cannot write to stdout");
    }
    if (rc)
        return cli_fail_err(&err);
    if (c.bad)
        ps_log(PS_LOG_WARN, "%s: skipped %ld bad row%s", o.in ? o.in : "<stdin>", c.bad,
               c.bad == 1 ? "" : "s");
    return CLI_OK;
}

PS_COMMAND(tokenize, "print the tokens or token ids of texts (GPT-2 BPE, BERT WordPiece)", USAGE,
           cmd_tokenize_main)
