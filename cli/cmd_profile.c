/* cmd_profile.c - `persona profile show|diff|export`: queries over the
 * profile store of a workspace (include/persona/store.h, docs/store.md). */
#include "cli.h"
#include "persona/core.h"
#include "persona/store.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                           \
    "usage: persona profile show USER [--json] [--run N] [--workspace DIR]\n"           \
    "   or: persona profile diff --from RUN --to RUN [--json] [--workspace DIR]\n"      \
    "   or: persona profile export --format jsonl|csv [--run N] [--out FILE] [--workspace DIR]\n" \
    "   or: persona profile runs [--workspace DIR]\n"                                    \
    "\n"                                                                                \
    "Reads DIR/persona.db (default DIR: workspace).  RUN numbers are the run ids\n"    \
    "`persona run` prints; a run that reused an earlier snapshot resolves to it.\n"    \
    "Without --run the latest snapshot is used.\n"                                       \
    "\n"                                                                                \
    "  show     one user's profile (text, or the stored JSON document with --json)\n" \
    "  diff     segment moves, tags gained and lost, lifecycle changes between runs\n" \
    "  export   every profile: JSON Lines, or CSV with user_id and segment first\n"   \
    "  runs     the runs in the store: id, status, snapshot, time, users\n"

static int open_store(const char *ws, struct ps_store **s)
{
    struct ps_err err = {0};
    size_t n = strlen(ws) + 16;
    char *path = ps_xmalloc(n);
    snprintf(path, n, "%s/persona.db", ws);
    int rc = ps_store_open_ro(s, path, &err);
    free(path);
    return rc ? cli_fail_err(&err) : CLI_OK;
}

static int64_t resolve(struct ps_store *s, long run, const char *what)
{
    int64_t snap = run > 0 ? ps_store_snapshot_of(s, run) : ps_store_latest_snapshot(s);
    if (!snap) {
        if (run > 0)
            cli_fail("%s: no finished run %ld in the store", what, run);
        else
            cli_fail("%s: the store has no snapshot yet", what);
    }
    return snap;
}

/* The stored audiences (docs/store.md) the user belongs to, newest first. */
static void print_audiences(struct ps_store *s, const char *user)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ps_store_db(s), "SELECT a.name, a.audience_id, a.run_id, m.grp, m.offer "
                           "FROM audience_members m JOIN audiences a USING (audience_id) "
                           "WHERE m.user_id=? ORDER BY a.audience_id DESC", -1, &st, NULL) != SQLITE_OK)
        return; /* a store without audiences */
    sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *offer = (const char *)sqlite3_column_text(st, 4);
        printf("audience %s (#%lld, run %lld): %s%s%s\n", (const char *)sqlite3_column_text(st, 0),
               (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2),
               (const char *)sqlite3_column_text(st, 3), offer ? ", offer " : "", offer ? offer : "");
    }
    sqlite3_finalize(st);
}

static void print_text(json_t *d)
{
    json_t *sg = json_object_get(d, "segment");
    printf("user %s (snapshot %lld)\n", json_string_value(json_object_get(d, "user_id")),
           (long long)json_integer_value(json_object_get(d, "run")));
    printf("segment: %lld \"%s\" (distance %.3f)\n", (long long)json_integer_value(json_object_get(sg, "id")),
           json_string_value(json_object_get(sg, "name")), json_number_value(json_object_get(sg, "distance")));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(d, "attributes"), k, v) {
        printf("attribute %s: %s\n", k, json_is_string(v) ? json_string_value(v) : "");
    }
    json_t *life = json_object_get(d, "lifecycle"), *rfm = json_object_get(d, "rfm");
    json_t *price = json_object_get(d, "price_sensitivity");
    if (json_is_string(life))
        printf("lifecycle: %s\n", json_string_value(life));
    if (json_is_object(rfm))
        printf("rfm: %s (R %lld, F %lld, M %lld)\n", json_string_value(json_object_get(rfm, "tier")),
               (long long)json_integer_value(json_object_get(rfm, "r")),
               (long long)json_integer_value(json_object_get(rfm, "f")),
               (long long)json_integer_value(json_object_get(rfm, "m")));
    if (json_is_string(price))
        printf("price sensitivity: %s\n", json_string_value(price));
    size_t i;
    json_array_foreach(json_object_get(d, "topics"), i, v) {
        printf("topic %lld (%.2f):", (long long)json_integer_value(json_object_get(v, "topic")),
               json_number_value(json_object_get(v, "weight")));
        size_t j;
        json_t *w;
        json_array_foreach(json_object_get(v, "words"), j, w) { printf(" %s", json_string_value(w)); }
        printf("\n");
    }
    printf("tags:");
    json_array_foreach(json_object_get(d, "interest_tags"), i, v) { printf(" %s", json_string_value(v)); }
    json_array_foreach(json_object_get(d, "tags"), i, v) { printf(" %s", json_string_value(v)); }
    printf("\n");
    json_object_foreach(json_object_get(d, "features"), k, v) {
        if (json_is_number(v))
            printf("feature %s: %.10g\n", k, json_number_value(v));
        else if (json_is_string(v))
            printf("feature %s: %s\n", k, json_string_value(v));
        else
            printf("feature %s:\n", k);
    }
}

static int cmd_profile_main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("profile", "missing the subcommand (show, diff or export)");
    const char *sub = argv[1], *ws = "workspace", *user = NULL, *fmt = NULL, *out = NULL;
    long run = 0, from = 0, to = 0;
    int json = 0;
    if (strcmp(sub, "show") != 0 && strcmp(sub, "diff") != 0 && strcmp(sub, "export") != 0 &&
        strcmp(sub, "runs") != 0)
        return cli_usage_error("profile", "unknown subcommand '%s'", sub);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (!strcmp(a, "--workspace") || !strcmp(a, "--run") || !strcmp(a, "--from") ||
                   !strcmp(a, "--to") || !strcmp(a, "--format") || !strcmp(a, "--out")) {
            if (i + 1 >= argc)
                return cli_usage_error("profile", "option '%s' needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--workspace"))
                ws = v;
            else if (!strcmp(a, "--format"))
                fmt = v;
            else if (!strcmp(a, "--out"))
                out = v;
            else if (cli_parse_long("profile", a, v, 1, 0x7fffffffL,
                                    !strcmp(a, "--run") ? &run : !strcmp(a, "--from") ? &from : &to))
                return CLI_USAGE;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("profile", "unknown option '%s'", a);
        } else if (strcmp(sub, "show") == 0 && !user) {
            user = a;
        } else {
            return cli_usage_error("profile", "too many arguments: \"%s\"", a);
        }
    }
    if (!strcmp(sub, "show") && !user)
        return cli_usage_error("profile", "show: missing the user id");
    if (!strcmp(sub, "diff") && (!from || !to))
        return cli_usage_error("profile", "diff: needs --from RUN and --to RUN");
    enum ps_store_format f = PS_STORE_JSONL;
    if (!strcmp(sub, "export")) {
        if (!fmt)
            return cli_usage_error("profile", "export: needs --format jsonl or csv");
        if (!strcmp(fmt, "csv"))
            f = PS_STORE_CSV;
        else if (strcmp(fmt, "jsonl") != 0)
            return cli_usage_error("profile", "export: unknown format '%s' (jsonl or csv)", fmt);
    }
    struct ps_store *s;
    int rc = open_store(ws, &s);
    if (rc)
        return rc;
    struct ps_err err = {0};
    if (!strcmp(sub, "runs")) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(ps_store_db(s), "SELECT run_id, status, snapshot, started_at, seconds, "
                               "(SELECT COUNT(*) FROM profiles p WHERE p.run_id = r.snapshot), config_path "
                               "FROM runs r ORDER BY run_id", -1, &st, NULL) != SQLITE_OK) {
            rc = cli_fail("cannot read runs: %s", sqlite3_errmsg(ps_store_db(s)));
        } else {
            printf("run  status   snapshot  started               seconds    users  config\n");
            while (sqlite3_step(st) == SQLITE_ROW) {
                printf("%-4lld %-8s %8s  %-20s %8.2f %8lld  %s\n", (long long)sqlite3_column_int64(st, 0),
                       (const char *)sqlite3_column_text(st, 1),
                       sqlite3_column_type(st, 2) == SQLITE_NULL ? "-" : (const char *)sqlite3_column_text(st, 2),
                       (const char *)sqlite3_column_text(st, 3), sqlite3_column_double(st, 4),
                       (long long)sqlite3_column_int64(st, 5), (const char *)sqlite3_column_text(st, 6));
            }
            sqlite3_finalize(st);
        }
    } else if (!strcmp(sub, "show")) {
        int64_t snap = resolve(s, run, "show");
        char *doc = NULL;
        if (!snap) {
            rc = CLI_FAIL;
        } else if ((rc = ps_store_profile_get(s, snap, user, &doc, &err)) == PS_DONE) {
            rc = cli_fail("no profile for user \"%s\" in snapshot %lld", user, (long long)snap);
        } else if (rc) {
            rc = cli_fail_err(&err);
        } else if (json) {
            printf("%s\n", doc);
        } else {
            json_t *d = json_loads(doc, 0, NULL);
            print_text(d);
            json_decref(d);
            print_audiences(s, user);
        }
        free(doc);
    } else if (!strcmp(sub, "diff")) {
        int64_t a = resolve(s, from, "diff --from"), b = a ? resolve(s, to, "diff --to") : 0;
        if (!a || !b) {
            rc = CLI_FAIL;
        } else {
            struct ps_buf buf;
            ps_buf_init(&buf);
            rc = ps_store_diff(s, a, b, json, 20, &buf, &err);
            if (rc)
                rc = cli_fail_err(&err);
            else
                fputs(buf.data, stdout);
            ps_buf_release(&buf);
        }
    } else {
        int64_t snap = resolve(s, run, "export");
        FILE *o = stdout;
        if (!snap) {
            rc = CLI_FAIL;
        } else if (out && !(o = fopen(out, "w"))) {
            rc = cli_fail("cannot write \"%s\"", out);
        } else {
            rc = ps_store_export(s, snap, f, o, &err);
            if (o != stdout && fclose(o) != 0 && !rc)
                rc = ps_err_set(&err, PS_ERR_IO, "cannot write \"%s\"", out);
            if (rc)
                rc = cli_fail_err(&err);
        }
    }
    ps_store_close(s);
    return rc;
}

PS_COMMAND(profile, "show, compare and export stored user profiles", USAGE, cmd_profile_main)
