/* cmd_copy.c - `persona copy`: personalised messages from a prompt
 * template filled with allow-listed profile fields (include/persona/copy.h,
 * docs/copy.md). */
#include "cli.h"
#include "persona/afile.h"
#include "persona/copy.h"
#include "persona/core.h"
#include "persona/hash.h"
#include "persona/log.h"
#include "persona/pool.h"
#include "persona/progress.h"
#include "persona/reader.h"
#include "persona/recommend.h"
#include "persona/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USAGE                                                                              \
    "usage: persona copy --workspace W (--user U | --audience FILE) --template FILE [options]\n" \
    "\n"                                                                                   \
    "  --workspace W          read W/persona.db (profiles) and, when the template names\n"  \
    "                         {recommended_items} or {top_item}, W/clean/events.csv,\n"     \
    "                         items.csv, texts.csv and W/segment/labels.csv\n"              \
    "  --user U               one user\n"                                                   \
    "  --audience FILE        every user of an audience CSV (`persona audience create`;\n"  \
    "                         a user_id column; rows of group \"control\" are skipped)\n"   \
    "  --include-control      also write copy for the control group\n"                      \
    "  --template FILE        prompt template; placeholders (the only ones allowed):\n"     \
    "                         {segment_name} {top_category} {top_categories}\n"             \
    "                         {recommended_items} {top_item} {rfm_tier} {lifecycle}\n"      \
    "                         {price_sensitivity} {topic_words}; {{ and }} = braces\n"      \
    "  --model DIR            GPT-2 checkpoint (default: the built-in models/persona-small)\n" \
    "  --seed S               sampling seed (default 42); each user's draw uses\n"          \
    "                         hash(user id, S), so order and threads do not matter\n"       \
    "  --max-new N            tokens per message (default 32)\n"                            \
    "  --temperature T        0 = greedy (default 0.8)\n"                                   \
    "  --top-k K              default 40 (0 = all)\n"                                       \
    "  --top-p P              default 0.95\n"                                               \
    "  --repetition-penalty R default 1.2 (1 = off)\n"                                      \
    "  --stop STR             end the message at STR (repeatable; e.g. --stop $'\\n')\n" \
    "  --items N              recommended items in {recommended_items} (default 3)\n"      \
    "  --topic-words N        words in {topic_words} (default 5)\n"                         \
    "  --run N                profiles of run N (default: the latest snapshot)\n"           \
    "  --format csv|jsonl     output format (default: jsonl for *.jsonl, else csv)\n"       \
    "  --out FILE             output (default - = stdout): user_id,prompt,message\n"        \
    "  --dry-run              fill the prompts only (message left empty; no model)\n"       \
    "  -t, --threads N        threads (default: all cores)\n"                               \
    "  -q, --quiet            no progress or summary on stderr\n"                           \
    "\n"                                                                                   \
    "No personal data enters a prompt: only the fields above exist, the user id is\n"      \
    "written to the output file only, and a prompt containing it is refused.\n"

static char *join(const char *dir, const char *rel)
{
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_printf(&b, "%s/%s", dir, rel);
    return b.data;
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* $PERSONA_MODELS/persona-small, else ./models/persona-small, else beside
 * the executable (as `persona run` looks for it). */
static char *find_builtin_model(void)
{
    const char *env = getenv("PERSONA_MODELS");
    char *cands[2] = {NULL, NULL};
    if (env) {
        cands[0] = join(env, "persona-small");
    } else {
        cands[0] = ps_xstrdup("models/persona-small");
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = '\0';
            char *sl = strrchr(exe, '/');
            if (sl) {
                *sl = '\0';
                cands[1] = join(exe, "../models/persona-small");
            }
        }
    }
    char *found = NULL;
    for (int i = 0; i < 2; i++) {
        if (cands[i] && !found) {
            char *cj = join(cands[i], "config.json");
            if (exists(cj))
                found = ps_xstrdup(cands[i]);
            free(cj);
        }
        free(cands[i]);
    }
    return found;
}

/* Users of an audience file (treatment only unless include_control). */
static int read_audience(const char *path, int include_control, char ***ids, size_t *n,
                         size_t *n_control, struct ps_err *err)
{
    struct ps_reader *r = NULL;
    struct ps_reader_params rp = ps_reader_default_params();
    rp.format = PS_FORMAT_CSV;
    *ids = NULL;
    *n = *n_control = 0;
    int rc = ps_reader_open(&r, path, &rp, err);
    if (rc)
        return rc;
    int c_user = ps_reader_column_index(r, "user_id"), c_group = ps_reader_column_index(r, "group");
    size_t cap = 0;
    if (c_user < 0) {
        rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s: no \"user_id\" column", path);
        goto done;
    }
    for (;;) {
        int st = ps_reader_next(r);
        if (st == PS_DONE)
            break;
        if (st == PS_ERR_BAD_ROW) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s", ps_reader_errmsg(r));
            goto done;
        }
        if (st != PS_OK) {
            rc = ps_err_set(err, st, "%s", ps_reader_errmsg(r));
            goto done;
        }
        size_t len;
        const char *u = ps_reader_field(r, c_user, &len);
        if (len == 0) {
            rc = ps_err_set(err, PS_ERR_BAD_INPUT, "%s:%ld: column \"user_id\": empty user id",
                            path, ps_reader_line(r));
            goto done;
        }
        if (c_group >= 0 && !include_control &&
            strcmp(ps_reader_field(r, c_group, NULL), "control") == 0) {
            (*n_control)++;
            continue;
        }
        *ids = ps_xgrow(*ids, &cap, *n + 1, sizeof **ids);
        (*ids)[(*n)++] = ps_xstrndup(u, len);
    }
done:
    ps_reader_close(r);
    return rc;
}

static void put_csv(FILE *f, const char *s, size_t n)
{
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        fwrite(s, 1, n, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

static void put_json(FILE *f, const char *s, size_t n)
{
    struct ps_buf b;
    ps_buf_init(&b);
    ps_buf_json_str(&b, s, n);
    fwrite(b.data, 1, b.len, f);
    ps_buf_release(&b);
}

struct recs {
    struct ps_interactions x;
    int loaded;
    struct ps_rec_item *items;  /* [n_users x n] */
    int *counts;                /* [n_users] */
};

/* Recommendations for every listed user (one parallel batch). */
static int load_recs(struct recs *R, const char *ws, char **users, size_t n_users, int n,
                     struct ps_pool *pool, struct ps_err *err)
{
    char *ev = join(ws, "clean/events.csv"), *it = join(ws, "clean/items.csv");
    char *tx = join(ws, "clean/texts.csv"), *seg = join(ws, "segment/labels.csv");
    struct ps_recommender *r = NULL;
    uint32_t *idx = NULL;
    ps_interactions_init(&R->x);
    R->loaded = 1;
    int rc = ps_interactions_load_events(&R->x, ev, err);
    if (!rc && exists(tx))
        rc = ps_interactions_load_texts(&R->x, tx, err);
    if (!rc && exists(it))
        rc = ps_interactions_load_items(&R->x, it, err);
    if (!rc && exists(seg))
        rc = ps_interactions_load_segments(&R->x, seg, NULL, err);
    struct ps_rec_params p = ps_rec_default_params();
    p.n = n;
    p.exclude_purchased = 1;
    if (!rc)
        rc = ps_recommender_build(&R->x, &p, pool, &r, err);
    if (rc)
        goto done;
    idx = ps_xmalloc((n_users ? n_users : 1) * sizeof *idx);
    size_t n_known = ps_interactions_n_users(&R->x);
    for (size_t i = 0; i < n_users; i++) {
        int64_t u = ps_strmap_find(R->x.users, users[i], strlen(users[i]));
        idx[i] = u < 0 ? (uint32_t)n_known : (uint32_t)u;  /* past the end = cold */
    }
    R->items = ps_xmalloc((n_users ? n_users : 1) * (size_t)n * sizeof *R->items);
    R->counts = ps_xcalloc(n_users ? n_users : 1, sizeof *R->counts);
    ps_recommend_batch(r, idx, n_users, pool, R->items, R->counts);
done:
    ps_recommender_free(r);
    free(idx);
    free(ev);
    free(it);
    free(tx);
    free(seg);
    return rc;
}

static const char *item_title(const struct ps_interactions *x, uint32_t item, size_t *len)
{
    if (item < x->item_title_cap && x->item_title[item] && x->item_title[item][0]) {
        *len = strlen(x->item_title[item]);
        return x->item_title[item];
    }
    return ps_strmap_key(x->items, item, len);
}

#define CHUNK 256
#define MAX_STOPS 16

/* One chunk of users: prompts in, messages out. */
struct job {
    struct ps_copy_gen *gen;
    uint64_t seed;
    size_t n;              /* users in the chunk */
    char **prompts;        /* [CHUNK] owned */
    const char **users;    /* [CHUNK] borrowed ids */
    char **msgs;           /* [CHUNK] owned */
    size_t *n_new;         /* [CHUNK] */
    int *trunc;            /* [CHUNK] */
    int *rc;               /* [CHUNK] */
    struct ps_err *errs;   /* [CHUNK] */
};

static void job_clear(struct job *j)
{
    for (size_t k = 0; k < j->n; k++) {
        free(j->prompts[k]);
        free(j->msgs[k]);
        j->prompts[k] = j->msgs[k] = NULL;
        j->n_new[k] = 0;
        j->trunc[k] = j->rc[k] = 0;
    }
    j->n = 0;
}

/* Task t generates a fixed range of the chunk on context `worker`; each
 * user's seed is its own, so the split does not change any message. */
static void gen_task(void *ud, int task, int worker)
{
    struct job *j = ud;
    long b, e;
    ps_split_range((long)j->n, ps_copy_gen_n_workers(j->gen), task, &b, &e);
    for (long k = b; k < e; k++) {
        j->rc[k] = ps_copy_generate(j->gen, worker, j->prompts[k], strlen(j->prompts[k]),
                                    ps_copy_user_seed(j->seed, j->users[k]), &j->msgs[k], NULL,
                                    &j->n_new[k], &j->trunc[k], &j->errs[k]);
        if (j->rc[k])
            break;
    }
}

static void set_rec_fields(struct ps_copy_fields *f, const struct recs *R, size_t i, int n_items)
{
    struct ps_buf b;
    ps_buf_init(&b);
    ps_copy_fields_set(f, PS_COPY_TOP_ITEM, NULL);
    for (int k = 0; k < R->counts[i]; k++) {
        size_t len;
        const char *t = item_title(&R->x, R->items[i * (size_t)n_items + k].item, &len);
        if (k)
            ps_buf_append(&b, "; ", 2);
        ps_buf_append(&b, t, len);
        if (k == 0) {
            ps_buf_putc(&b, '\0');
            ps_copy_fields_set(f, PS_COPY_TOP_ITEM, b.data);
            b.len--;
        }
    }
    ps_buf_putc(&b, '\0');
    ps_copy_fields_set(f, PS_COPY_RECOMMENDED_ITEMS, R->counts[i] ? b.data : NULL);
    ps_buf_release(&b);
}

static int cmd_copy_main(int argc, char **argv)
{
    const char *ws = NULL, *user = NULL, *audience = NULL, *tmpl_path = NULL, *model = NULL;
    const char *out = "-", *format = NULL;
    int quiet = 0, dry_run = 0, include_control = 0, n_threads = 0, n_items = 3, n_words = 5;
    long run = 0;
    struct ps_lm_gen_params gp = ps_lm_gen_default_params();
    int sr; /* cli_sampling_option result */
    gp.max_new = 32;
    gp.sampler.temperature = 0.8;
    gp.sampler.top_k = 40;
    gp.sampler.top_p = 0.95;
    gp.sampler.repetition_penalty = 1.2;
    uint64_t seed = 42;
    const char *stops[MAX_STOPS];
    int n_stops = 0;

    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int missing = 0;
        long l;
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (strcmp(a, "--dry-run") == 0) {
            dry_run = 1;
            continue;
        }
        if (strcmp(a, "--include-control") == 0) {
            include_control = 1;
            continue;
        }
        if (cli_opt_value(argc, argv, &i, "--workspace", NULL, &v, &missing)) {
            ws = v;
        } else if (cli_opt_value(argc, argv, &i, "--user", NULL, &v, &missing)) {
            user = v;
        } else if (cli_opt_value(argc, argv, &i, "--audience", NULL, &v, &missing)) {
            audience = v;
        } else if (cli_opt_value(argc, argv, &i, "--template", NULL, &v, &missing)) {
            tmpl_path = v;
        } else if (cli_opt_value(argc, argv, &i, "--model", "-m", &v, &missing)) {
            model = v;
        } else if (cli_opt_value(argc, argv, &i, "--out", "-o", &v, &missing)) {
            out = v;
        } else if (cli_opt_value(argc, argv, &i, "--format", NULL, &v, &missing)) {
            if (!missing && strcmp(v, "csv") && strcmp(v, "jsonl"))
                return cli_usage_error("copy", "option '--format' expects csv or jsonl, got \"%s\"", v);
            format = v;
        } else if (cli_opt_value(argc, argv, &i, "--seed", NULL, &v, &missing)) {
            if (!missing && cli_parse_u64("copy", "--seed", v, &seed))
                return CLI_USAGE;
        } else if ((sr = cli_sampling_option("copy", argc, argv, &i, 1, &gp)) != 0) {
            if (sr < 0)
                return CLI_USAGE;
        } else if (cli_opt_value(argc, argv, &i, "--stop", NULL, &v, &missing)) {
            if (!missing) {
                if (n_stops == MAX_STOPS)
                    return cli_usage_error("copy", "at most %d --stop strings", MAX_STOPS);
                if (!*v)
                    return cli_usage_error("copy", "option '--stop' needs a non-empty string");
                stops[n_stops++] = v;
            }
        } else if (cli_opt_value(argc, argv, &i, "--items", NULL, &v, &missing)) {
            if (!missing) {
                if (cli_parse_long("copy", "--items", v, 1, 100, &l))
                    return CLI_USAGE;
                n_items = (int)l;
            }
        } else if (cli_opt_value(argc, argv, &i, "--topic-words", NULL, &v, &missing)) {
            if (!missing) {
                if (cli_parse_long("copy", "--topic-words", v, 1, 100, &l))
                    return CLI_USAGE;
                n_words = (int)l;
            }
        } else if (cli_opt_value(argc, argv, &i, "--run", NULL, &v, &missing)) {
            if (!missing && cli_parse_long("copy", "--run", v, 1, 1L << 40, &run))
                return CLI_USAGE;
        } else if (cli_opt_value(argc, argv, &i, "--threads", "-t", &v, &missing)) {
            if (!missing) {
                if (cli_parse_long("copy", "--threads", v, 0, 1024, &l))
                    return CLI_USAGE;
                n_threads = (int)l;
            }
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("copy", "unknown option '%s'", a);
        } else {
            return cli_usage_error("copy", "unexpected argument '%s'", a);
        }
        if (missing)
            return cli_usage_error("copy", "option '%s' needs a value", a);
    }
    if (!ws)
        return cli_usage_error("copy", "missing --workspace W");
    if (!user == !audience)
        return cli_usage_error("copy", "give exactly one of --user U and --audience FILE");
    if (!tmpl_path)
        return cli_usage_error("copy", "missing --template FILE");
    int jsonl = format ? strcmp(format, "jsonl") == 0
                       : (strlen(out) > 6 && strcmp(out + strlen(out) - 6, ".jsonl") == 0);
    cli_setup_logging(quiet);
    ps_progress_set_quiet(quiet);

    struct ps_err err = {0};
    struct ps_copy_template *tmpl = NULL;
    struct ps_store *store = NULL;
    struct ps_pool *pool = NULL;
    struct ps_copy_gen *gen = NULL;
    struct ps_copy_fields fields;
    struct recs R;
    struct ps_afile af = {0};
    struct ps_buf prompt;
    struct job job;
    char **users = NULL, *model_dir = NULL, *db = NULL;
    size_t n_users = 0, n_control = 0, n_missing = 0, n_truncated = 0, n_written = 0;
    int rc = CLI_OK;
    memset(&R, 0, sizeof R);
    memset(&job, 0, sizeof job);
    ps_copy_fields_init(&fields);
    ps_buf_init(&prompt);

    if (ps_copy_template_load(&tmpl, tmpl_path, &err))
        goto fail;
    if (user) {
        users = ps_xmalloc(sizeof *users);
        users[0] = ps_xstrdup(user);
        n_users = 1;
    } else if (read_audience(audience, include_control, &users, &n_users, &n_control, &err)) {
        goto fail;
    }
    db = join(ws, "persona.db");
    if (ps_store_open_ro(&store, db, &err))
        goto fail;
    int64_t snap = run > 0 ? ps_store_snapshot_of(store, run) : ps_store_latest_snapshot(store);
    if (snap <= 0) {
        if (run > 0)
            ps_err_set(&err, PS_ERR_BAD_INPUT, "%s: no run %ld with profiles", db, run);
        else
            ps_err_set(&err, PS_ERR_BAD_INPUT, "%s: the store has no snapshot yet", db);
        goto fail;
    }
    pool = ps_pool_new(n_threads);
    if ((ps_copy_template_uses(tmpl, PS_COPY_RECOMMENDED_ITEMS) ||
         ps_copy_template_uses(tmpl, PS_COPY_TOP_ITEM)) &&
        load_recs(&R, ws, users, n_users, n_items, pool, &err))
        goto fail;
    if (!dry_run) {
        if (!model && !(model = model_dir = find_builtin_model())) {
            ps_err_set(&err, PS_ERR_USAGE, "the built-in model models/persona-small is not "
                       "installed; give --model DIR");
            goto fail;
        }
        if (ps_copy_gen_new(&gen, model, &gp, ps_pool_n_threads(pool), &err))
            goto fail;
        ps_copy_gen_set_stops(gen, stops, n_stops);
    }
    if (ps_afile_open(&af, out, &err))
        goto fail;
    if (!jsonl)
        fputs("user_id,prompt,message\n", af.fp);

    struct ps_progress pg;
    ps_progress_begin(&pg, "copy", n_users);
    double t0 = ps_now();
    size_t total_new = 0;
    /* Chunks: prompts are filled serially (store reads), messages are
     * generated in parallel (one context per worker, static ranges), rows
     * are written in audience order. */
    job.gen = gen;
    job.seed = seed;
    job.prompts = ps_xcalloc(CHUNK, sizeof *job.prompts);
    job.users = ps_xcalloc(CHUNK, sizeof *job.users);
    job.msgs = ps_xcalloc(CHUNK, sizeof *job.msgs);
    job.n_new = ps_xcalloc(CHUNK, sizeof *job.n_new);
    job.trunc = ps_xcalloc(CHUNK, sizeof *job.trunc);
    job.rc = ps_xcalloc(CHUNK, sizeof *job.rc);
    job.errs = ps_xcalloc(CHUNK, sizeof *job.errs);
    for (size_t c0 = 0; c0 < n_users; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < n_users ? c0 + CHUNK : n_users;
        job.n = 0;
        for (size_t i = c0; i < c1; i++) {
            char *json = NULL;
            int st = ps_store_profile_get(store, snap, users[i], &json, &err);
            if (st == PS_DONE) {
                if (user) {
                    ps_err_set(&err, PS_ERR_BAD_INPUT,
                               "no profile for user \"%s\" in snapshot %lld", user, (long long)snap);
                    goto fail_progress;
                }
                n_missing++;
                continue;
            }
            if (st)
                goto fail_progress;
            st = ps_copy_fields_from_profile(&fields, json, n_words, &err);
            free(json);
            if (st) {
                ps_err_prefix(&err, "user \"%s\"", users[i]);
                goto fail_progress;
            }
            if (R.loaded)
                set_rec_fields(&fields, &R, i, n_items);
            ps_buf_reset(&prompt);
            ps_copy_template_fill(tmpl, &fields, &prompt);
            if (ps_copy_prompt_check(prompt.data, prompt.len, users[i], &err))
                goto fail_progress;
            ps_buf_putc(&prompt, '\0');
            job.prompts[job.n] = ps_xstrdup(prompt.data);
            job.users[job.n] = users[i];
            job.n++;
        }
        if (gen) {
            int n_tasks = ps_copy_gen_n_workers(gen);
            ps_pool_run(pool, n_tasks, gen_task, &job);
            for (size_t k = 0; k < job.n; k++) {
                if (job.rc[k]) {
                    err = job.errs[k];
                    ps_err_prefix(&err, "user \"%s\"", job.users[k]);
                    goto fail_progress;
                }
            }
        }
        for (size_t k = 0; k < job.n; k++) {
            const char *m = job.msgs[k] ? job.msgs[k] : "";
            const char *u = job.users[k];
            if (jsonl) {
                fputs("{\"user_id\": ", af.fp);
                put_json(af.fp, u, strlen(u));
                fputs(", \"prompt\": ", af.fp);
                put_json(af.fp, job.prompts[k], strlen(job.prompts[k]));
                fputs(", \"message\": ", af.fp);
                put_json(af.fp, m, strlen(m));
                fputs("}\n", af.fp);
            } else {
                put_csv(af.fp, u, strlen(u));
                fputc(',', af.fp);
                put_csv(af.fp, job.prompts[k], strlen(job.prompts[k]));
                fputc(',', af.fp);
                put_csv(af.fp, m, strlen(m));
                fputc('\n', af.fp);
            }
            total_new += job.n_new[k];
            n_truncated += (size_t)job.trunc[k];
            n_written++;
        }
        job_clear(&job);
        ps_progress_update(&pg, c1);
    }
    ps_progress_end(&pg);
    if (ps_afile_commit(&af, &err))
        goto fail;
    double dt = ps_now() - t0;
    if (n_control)
        ps_log(PS_LOG_INFO, "copy: %zu control users skipped (--include-control to keep them)",
               n_control);
    if (n_missing)
        ps_log(PS_LOG_WARN, "copy: %zu users have no profile in snapshot %lld; skipped",
               n_missing, (long long)snap);
    if (n_truncated)
        ps_log(PS_LOG_WARN, "copy: %zu prompts were longer than the model's context allows "
               "and kept their last tokens", n_truncated);
    ps_log(PS_LOG_INFO, "copy: %zu messages, %zu new tokens in %.2f s (%.1f users/s)", n_written,
           total_new, dt, dt > 0 ? n_written / dt : 0.0);
    goto done;
fail_progress:
    ps_progress_end(&pg);
fail:
    ps_afile_abort(&af);
    rc = cli_fail_err(&err);
done:
    job_clear(&job);
    free(job.prompts);
    free(job.users);
    free(job.msgs);
    free(job.n_new);
    free(job.trunc);
    free(job.rc);
    free(job.errs);
    for (size_t i = 0; i < n_users; i++)
        free(users[i]);
    free(users);
    free(db);
    free(model_dir);
    if (R.loaded)
        ps_interactions_release(&R.x);
    free(R.items);
    free(R.counts);
    ps_buf_release(&prompt);
    ps_copy_fields_release(&fields);
    ps_copy_gen_free(gen);
    ps_pool_free(pool);
    ps_store_close(store);
    ps_copy_template_free(tmpl);
    return rc;
}

PS_COMMAND(copy, "write personalised messages from a template and profile fields", USAGE,
           cmd_copy_main)
