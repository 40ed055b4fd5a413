/* cmd_generate.c - `persona generate`: text continuation with a GPT-2
 * checkpoint (KV cache; greedy or seeded sampling; see docs/lm.md). */
#include "cli.h"
#include "persona/core.h"
#include "persona/lm.h"
#include "persona/log.h"
#include "persona/pool.h"
#include "persona/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                        \
    "usage: persona generate --model DIR (--prompt TEXT | --prompts FILE) [options]\n" \
    "\n"                                                                             \
    "  --model DIR              Hugging Face GPT-2 folder (config.json,\n"           \
    "                           model.safetensors, vocab.json + merges.txt)\n"       \
    "  --prompt TEXT            one prompt\n"                                        \
    "  --prompts FILE           one prompt per line (- = stdin)\n"                   \
    "  --max-new N              tokens to generate per prompt (default 32)\n"        \
    "  --temperature T          0 = greedy (default 0)\n"                            \
    "  --top-k K                sample among the K most likely tokens (default 0 = all)\n" \
    "  --top-p P                nucleus: smallest set with probability >= P (default 1)\n" \
    "  --repetition-penalty R   divide logits of seen tokens by R (default 1 = off)\n" \
    "  --stop STR               stop when the text contains STR (repeatable; STR is\n" \
    "                           not printed)\n"                                      \
    "  --no-eos                 keep going after <|endoftext|>\n"                    \
    "  --seed S                 sampling seed (default 42); same seed, same text\n"  \
    "  --jsonl                  print one JSON object per prompt: prompt, text,\n"   \
    "                           new_ids, stop (eos, stop, length)\n"                 \
    "  -t, --threads N          threads (default: all cores)\n"                      \
    "  -q, --quiet              no timing line on stderr\n"                          \
    "\n"                                                                             \
    "Prints each continuation (without the prompt) followed by a newline.\n"

#define MAX_STOPS 16

struct stop_ctx {
    const struct ps_tokenizer *tok;
    const char *const *stops;
    int n_stops;
    size_t cut;      /* byte length of the text before the stop string */
    int hit;         /* a stop string was found */
};

/* Decodes the new tokens and looks for a stop string. */
static int check_stop(const int32_t *ids, size_t n, void *ud)
{
    struct stop_ctx *s = ud;
    if (s->n_stops == 0)
        return 0;
    char *text = NULL;
    struct ps_err err = {0};
    if (ps_tokenizer_decode(s->tok, ids, n, &text, &err))
        return 0;
    for (int k = 0; k < s->n_stops; k++) {
        const char *hit = strstr(text, s->stops[k]);
        if (hit && (!s->hit || (size_t)(hit - text) < s->cut)) {
            s->cut = (size_t)(hit - text);
            s->hit = 1;
        }
    }
    free(text);
    return s->hit;
}

static char **read_prompts(const char *path, size_t *n, struct ps_err *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        ps_err_set(err, PS_ERR_IO, "cannot open \"%s\"", path);
        return NULL;
    }
    char **v = NULL, *line = NULL;
    size_t cap = 0, lcap = 0;
    ssize_t len;
    *n = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        v = ps_xgrow(v, &cap, *n + 1, sizeof *v);
        v[(*n)++] = ps_xstrndup(line, (size_t)len);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    if (*n == 0)
        ps_err_set(err, PS_ERR_BAD_INPUT, "%s: no prompts (one per line)", path);
    return v;
}

static void print_json_str(const char *s, size_t n)
{
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_json_str(&b, s, n);
    fwrite(b.data, 1, b.len, stdout);
    ps_buf_release(&b);
}

static int cmd_generate_main(int argc, char **argv)
{
    const char *model_dir = NULL, *prompt = NULL, *prompts_path = NULL;
    const char *stops[MAX_STOPS];
    int n_stops = 0, quiet = 0, jsonl = 0, n_threads = 0;
    struct ps_lm_gen_params gp = ps_lm_gen_default_params();
    int sr; /* cli_sampling_option result */
    struct ps_err err = {0};

    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        long l;
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (strcmp(a, "--jsonl") == 0) {
            jsonl = 1;
            continue;
        }
        if (strcmp(a, "--no-eos") == 0) {
            gp.stop_at_eos = 0;
            continue;
        }
        if (cli_opt_value(argc, argv, &i, "--model", "-m", &v, &missing)) {
            model_dir = v;
        } else if (cli_opt_value(argc, argv, &i, "--prompt", "-p", &v, &missing)) {
            prompt = v;
        } else if (cli_opt_value(argc, argv, &i, "--prompts", NULL, &v, &missing)) {
            prompts_path = v;
        } else if (cli_opt_value(argc, argv, &i, "--stop", NULL, &v, &missing)) {
            if (!missing) {
                if (n_stops == MAX_STOPS)
                    return cli_usage_error("generate", "at most %d --stop strings", MAX_STOPS);
                if (!*v)
                    return cli_usage_error("generate", "option '--stop' needs a non-empty string");
                stops[n_stops++] = v;
            }
        } else if ((sr = cli_sampling_option("generate", argc, argv, &i, 0, &gp)) != 0) {
            if (sr < 0)
                return CLI_USAGE;
        } else if (cli_opt_value(argc, argv, &i, "--seed", NULL, &v, &missing)) {
            if (!missing && cli_parse_u64("generate", "--seed", v, &gp.sampler.seed))
                return CLI_USAGE;
        } else if (cli_opt_value(argc, argv, &i, "--threads", "-t", &v, &missing)) {
            if (!missing) {
                if (cli_parse_long("generate", "--threads", v, 0, 1024, &l))
                    return CLI_USAGE;
                n_threads = (int)l;
            }
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("generate", "unknown option '%s'", a);
        } else {
            return cli_usage_error("generate", "unexpected argument '%s'", a);
        }
        if (missing)
            return cli_usage_error("generate", "option '%s' needs a value", a);
    }
    if (!model_dir)
        return cli_usage_error("generate", "missing --model DIR");
    if (!prompt == !prompts_path)
        return cli_usage_error("generate", "give exactly one of --prompt TEXT and --prompts FILE");
    cli_setup_logging(quiet);

    int rc = CLI_OK;
    size_t n_prompts = 0;
    char **prompts = NULL;
    int32_t **ids = NULL;
    size_t *n_ids = NULL;
    struct ps_lm *m = NULL;
    struct ps_tokenizer *tok = NULL;
    struct ps_pool *pool = NULL;
    struct ps_lm_ctx *ctx = NULL;
    if (prompts_path) {
        prompts = read_prompts(prompts_path, &n_prompts, &err);
        if (!prompts || err.status)
            goto fail;
    } else {
        prompts = ps_xmalloc(sizeof *prompts);
        prompts[0] = ps_xstrdup(prompt);
        n_prompts = 1;
    }
    if (ps_lm_load(&m, model_dir, &err) || ps_tokenizer_load(&tok, model_dir, &err))
        goto fail;
    const struct ps_lm_config *cfg = ps_lm_get_config(m);
    if (cfg->arch != PS_LM_GPT2) {
        ps_err_set(&err, PS_ERR_USAGE, "%s: generation needs a GPT-2 checkpoint, this is BERT",
                   model_dir);
        goto fail;
    }
    ids = ps_xcalloc(n_prompts, sizeof *ids);
    n_ids = ps_xcalloc(n_prompts, sizeof *n_ids);
    size_t longest = 0;
    for (size_t i = 0; i < n_prompts; i++) {
        if (ps_tokenizer_encode(tok, prompts[i], strlen(prompts[i]), 0, &ids[i], &n_ids[i], &err)) {
            ps_err_prefix(&err, "prompt %zu", i + 1);
            goto fail;
        }
        if (n_ids[i] + (size_t)gp.max_new > (size_t)cfg->n_ctx) {
            ps_err_set(&err, PS_ERR_USAGE,
                       "prompt %zu: %zu tokens + %d new exceed the model's context of %d", i + 1,
                       n_ids[i], gp.max_new, cfg->n_ctx);
            goto fail;
        }
        if (n_ids[i] == 0) {
            ps_err_set(&err, PS_ERR_USAGE, "prompt %zu is empty", i + 1);
            goto fail;
        }
        longest = n_ids[i] > longest ? n_ids[i] : longest;
    }
    pool = ps_pool_new(n_threads);
    struct ps_lm_ctx_params cp = ps_lm_ctx_default_params();
    cp.max_batch = 1;
    cp.max_tokens = (int)longest + gp.max_new;
    cp.kv_cache = 1;
    cp.logits = 1;
    cp.pool = pool;
    if (ps_lm_ctx_new(&ctx, m, &cp, &err))
        goto fail;
    double t0 = ps_now();
    size_t total_new = 0;
    for (size_t i = 0; i < n_prompts; i++) {
        struct stop_ctx sc = {tok, stops, n_stops, 0, 0};
        int32_t *out = NULL;
        size_t n_out = 0;
        char *text = NULL;
        if (ps_lm_generate(ctx, ids[i], n_ids[i], &gp, check_stop, &sc, &out, &n_out, NULL, &err))
            goto fail;
        total_new += n_out;
        if (ps_tokenizer_decode(tok, out, n_out, &text, &err)) {
            free(out);
            goto fail;
        }
        size_t len = sc.hit ? sc.cut : strlen(text);
        const char *why = sc.hit ? "stop"
                          : (gp.stop_at_eos && n_out && out[n_out - 1] == cfg->eos_id) ? "eos"
                                                                                       : "length";
        if (!sc.hit && strcmp(why, "eos") == 0) {
            /* Do not print the end-of-text marker itself. */
            char *t2 = NULL;
            if (ps_tokenizer_decode(tok, out, n_out - 1, &t2, &err) == PS_OK) {
                free(text);
                text = t2;
                len = strlen(text);
            }
        }
        if (jsonl) {
            fputs("{\"prompt\": ", stdout);
            print_json_str(prompts[i], strlen(prompts[i]));
            fputs(", \"text\": ", stdout);
            print_json_str(text, len);
            fputs(", \"new_ids\": [", stdout);
            for (size_t k = 0; k < n_out; k++)
                printf("%s%d", k ? ", " : "", out[k]);
            printf("], \"stop\": \"%s\"}\n", why);
        } else {
            fwrite(text, 1, len, stdout);
            fputc('\n', stdout);
        }
        fflush(stdout);
        free(text);
        free(out);
    }
    double dt = ps_now() - t0;
    ps_log(PS_LOG_INFO, "generate: %zu prompt%s, %zu new tokens in %.2f s (%.1f tokens/s)",
           n_prompts, n_prompts == 1 ? "" : "s", total_new, dt, dt > 0 ? total_new / dt : 0.0);
    goto done;
fail:
    rc = cli_fail_err(&err);
done:
    for (size_t i = 0; i < n_prompts; i++) {
        free(prompts ? prompts[i] : NULL);
        free(ids ? ids[i] : NULL);
    }
    free(prompts);
    free(ids);
    free(n_ids);
    ps_lm_ctx_free(ctx);
    ps_pool_free(pool);
    ps_tokenizer_free(tok);
    ps_lm_free(m);
    return rc;
}

PS_COMMAND(generate, "continue text with a GPT-2 checkpoint (greedy or sampled)", USAGE,
           cmd_generate_main)
